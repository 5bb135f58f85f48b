'use strict';
// Finds and loads the native addon. Search order:
//   1. $NEARKIT_NODE_ADDON, an explicit path (for tests and unusual layouts);
//   2. build/Release/nearkit.node, made by a build from source (scripts/build.js, or the install
//      script on a platform without a prebuilt binary);
//   3. prebuilds/<platform>-<arch>/nearkit.node, the binary shipped in the npm package.
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');

function candidates() {
  const list = [];
  if (process.env.NEARKIT_NODE_ADDON) list.push(path.resolve(process.env.NEARKIT_NODE_ADDON));
  list.push(path.join(root, 'build', 'Release', 'nearkit.node'));
  list.push(path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'nearkit.node'));
  return list;
}

function load() {
  const explicit = process.env.NEARKIT_NODE_ADDON;
  if (explicit && !fs.existsSync(path.resolve(explicit))) {
    const error = new Error(`nearkit: NEARKIT_NODE_ADDON names ${explicit}, which does not exist`);
    error.code = 'ERR_NEARKIT_ADDON_NOT_FOUND';
    throw error;
  }
  const tried = [];
  for (const file of candidates()) {
    if (!fs.existsSync(file)) {
      tried.push(`${file} (missing)`);
      continue;
    }
    // A file that exists but fails to load is a real problem: report it, do not hide it.
    return require(file);
  }
  const error = new Error(
    `nearkit: no native addon for ${process.platform}-${process.arch}. Looked for:\n  ` +
      tried.join('\n  ') +
      '\nThe package carries no prebuilt binary for this platform, so its install script builds ' +
      'one from source; it did not run or failed. Allow it and rebuild (`npm install-scripts ' +
      'approve nearkit` where npm gates install scripts, then `npm rebuild nearkit`), or run ' +
      '`node scripts/build.js` in the package directory (needs a C compiler, CMake, OpenBLAS and ' +
      'the Node.js headers).'
  );
  error.code = 'ERR_NEARKIT_ADDON_NOT_FOUND';
  throw error;
}

const native = load();
// Results are allocated by the addon; it must know the runtime's largest ArrayBuffer, because
// asking V8 for more aborts the process instead of throwing.
native.setMaxBufferBytes(require('buffer').constants.MAX_LENGTH);
module.exports = native;
