#!/usr/bin/env node
'use strict';
// Runs before `npm pack` / `npm publish`:
//   1. puts the binary for this platform at prebuilds/<platform>-<arch>/nearkit.node: the one
//      from the last build (build/Release/nearkit.node; `npm run build` makes it), or a new build
//      (unless NEARKIT_KEEP_PREBUILDS=1: see below);
//   2. copies the nearkit C sources (include/, core/, the core's CMakeLists.txt, and bindings/handle.*
//      which the addon compiles) to deps/nearkit/
//      so that an install on a platform without a prebuilt binary can build from source.
// postpack.js removes deps/ again.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { nodeRoot, prebuiltPath, builtPath, vendoredRoot, NOTICES, fail } = require('./common');

// NEARKIT_KEEP_PREBUILDS=1: prebuilds/ already holds the binaries to ship (ci/portable_npm.sh puts
// the portable ones there, with the libraries they load beside them); neither build nor replace.
if (!process.env.NEARKIT_KEEP_PREBUILDS) {
  if (!fs.existsSync(builtPath)) {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'build.js')], { stdio: 'inherit' });
    if (r.status !== 0) fail('the build failed; nothing to pack');
  }
  fs.mkdirSync(path.dirname(prebuiltPath), { recursive: true });
  fs.copyFileSync(builtPath, prebuiltPath);
} else if (!fs.existsSync(path.join(nodeRoot, 'prebuilds'))) {
  fail('NEARKIT_KEEP_PREBUILDS is set but there is no prebuilds/ directory');
}

const repoRoot = path.resolve(nodeRoot, '..');
if (path.resolve(vendoredRoot) !== repoRoot && fs.existsSync(path.join(repoRoot, 'core'))) {
  fs.rmSync(vendoredRoot, { recursive: true, force: true });
  fs.mkdirSync(vendoredRoot, { recursive: true });
  const copy = (rel) => fs.cpSync(path.join(repoRoot, rel), path.join(vendoredRoot, rel), { recursive: true });
  copy('CMakeLists.txt');
  copy('include');
  // core/ holds one folder per layer (docs/architecture.md): copy its sources, the list and the
  // symbol map, whatever folder they sit in.
  fs.cpSync(path.join(repoRoot, 'core'), path.join(vendoredRoot, 'core'), {
    recursive: true,
    filter: (src) => fs.statSync(src).isDirectory() || /\.(c|h|map)$/.test(src) || path.basename(src) === 'sources.txt',
  });
  fs.mkdirSync(path.join(vendoredRoot, 'bindings'));
  for (const name of ['handle.c', 'handle.h']) copy(path.join('bindings', name));
  for (const name of ['LICENSE', 'LICENSE.md', 'LICENSE.txt']) {
    if (fs.existsSync(path.join(repoRoot, name))) copy(name);
  }
  // the licence and OpenBLAS's notices (the prebuilt addon links it in), at the package's root
  for (const name of NOTICES) fs.copyFileSync(path.join(repoRoot, name), path.join(nodeRoot, name));
  fs.writeFileSync(path.join(path.dirname(vendoredRoot), '.vendored-by-prepack'), '');
}
