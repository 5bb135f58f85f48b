'use strict';
// Helpers shared by the build, install and pack scripts.
const fs = require('fs');
const path = require('path');

const nodeRoot = path.resolve(__dirname, '..');
const platformDir = `${process.platform}-${process.arch}`;
const prebuiltPath = path.join(nodeRoot, 'prebuilds', platformDir, 'nearkit.node');
const builtPath = path.join(nodeRoot, 'build', 'Release', 'nearkit.node');
const vendoredRoot = path.join(nodeRoot, 'deps', 'nearkit');
// The files every package carries from the repository's root: the licence and OpenBLAS's notices.
const NOTICES = ['LICENSE', 'THIRD_PARTY_NOTICES.txt'];

// The directory holding include/nearkit.h, core/, bindings/ and the core's CMakeLists.txt: the copy shipped
// in the npm package (deps/nearkit), or the repository around node/.
function sourceRoot() {
  if (process.env.NEARKIT_SOURCE_DIR) return path.resolve(process.env.NEARKIT_SOURCE_DIR);
  if (fs.existsSync(path.join(vendoredRoot, 'include', 'nearkit.h'))) return vendoredRoot;
  return path.resolve(nodeRoot, '..');
}

function fail(message) {
  console.error(`nearkit: ${message}`);
  process.exit(1);
}

module.exports = { nodeRoot, platformDir, prebuiltPath, builtPath, vendoredRoot, NOTICES, sourceRoot, fail };
