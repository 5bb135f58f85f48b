#!/usr/bin/env node
'use strict';
// Runs after `npm pack`: removes the sources prepack.js copied to deps/ (the repository keeps one
// copy of them, at its root).
const fs = require('fs');
const path = require('path');
const { nodeRoot, vendoredRoot, NOTICES } = require('./common');

if (fs.existsSync(path.join(path.dirname(vendoredRoot), '.vendored-by-prepack'))) {
  fs.rmSync(path.dirname(vendoredRoot), { recursive: true, force: true });
  for (const name of NOTICES) fs.rmSync(path.join(nodeRoot, name), { force: true });
}
