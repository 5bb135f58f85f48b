#!/usr/bin/env node
'use strict';
// Runs at `npm install`. Nothing is downloaded:
//   - when the package carries a prebuilt binary for this platform (prebuilds/<platform>-<arch>/)
//     and it loads here, that is used and nothing is compiled;
//   - otherwise (another platform, or a binary this system cannot load, or
//     NEARKIT_BUILD_FROM_SOURCE=1) the addon is built from the C sources shipped in the package
//     (scripts/build.js), which needs a C compiler, CMake and the Node.js headers.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { prebuiltPath, platformDir } = require('./common');

function prebuiltLoads() {
  if (!fs.existsSync(prebuiltPath)) return false;
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(prebuiltPath)})`], { encoding: 'utf8' });
  if (r.status === 0) return true;
  console.warn(`nearkit: the prebuilt binary for ${platformDir} does not load here:\n${(r.stderr || '').trim()}`);
  return false;
}

if (!process.env.NEARKIT_BUILD_FROM_SOURCE && prebuiltLoads()) {
  process.exit(0);
}
console.log(`nearkit: building the native addon from source for ${platformDir}`);
const r = spawnSync(process.execPath, [path.join(__dirname, 'build.js')], { stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
