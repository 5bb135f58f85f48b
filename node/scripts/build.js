#!/usr/bin/env node
'use strict';
// Builds the native addon from source, without downloading anything:
//   1. the nearkit core as a static library with CMake (node/cmake/: position-independent code,
//      OpenBLAS linked statically, no CLI or tests);
//   2. the addon with node-gyp (the copy bundled with npm), against the Node.js headers already
//      on this machine (--nodedir), linking the core statically.
// The result is build/Release/nearkit.node; with --prebuild it is also copied to
// prebuilds/<platform>-<arch>/nearkit.node, the binary `npm pack` ships.
//
// Needs: cmake (>= 3.25), a C compiler, make (or ninja for the core), python3 (for node-gyp),
// OpenBLAS development files (Debian: libopenblas-pthread-dev), and the Node.js headers
// (<prefix>/include/node/node_api.h and common.gypi, as the official Node.js builds, NodeSource
// and Debian's libnode-dev install them; or point npm_config_nodedir / NEARKIT_NODEDIR at them).
//
// Environment: NEARKIT_SOURCE_DIR (the nearkit sources), NEARKIT_NODE_CORE_BUILD_DIR (the core's
// build directory, default build-core/), NEARKIT_NODEDIR, NEARKIT_JOBS (default 2).
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { nodeRoot, prebuiltPath, builtPath, sourceRoot, fail } = require('./common');

const jobs = String(process.env.NEARKIT_JOBS || 2);

function run(cmd, args, options = {}) {
  console.log(`nearkit: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: nodeRoot, ...options });
  if (r.error) fail(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} failed with exit code ${r.status}`);
}

function have(cmd) {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function findNodeDir() {
  const explicit = process.env.NEARKIT_NODEDIR || process.env.npm_config_nodedir;
  if (explicit) return path.resolve(explicit);
  const candidates = [
    path.resolve(path.dirname(process.execPath), '..'),
    process.config.variables && process.config.variables.node_prefix,
    '/usr',
    '/usr/local',
  ].filter(Boolean);
  for (const dir of candidates) {
    const inc = path.join(dir, 'include', 'node');
    if (fs.existsSync(path.join(inc, 'node_api.h')) && fs.existsSync(path.join(inc, 'common.gypi'))) return dir;
  }
  return null;
}

function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch (_) {
    /* not installed as a package here */
  }
  const bin = path.dirname(process.execPath);
  candidates.push(path.join(bin, '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(bin, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const c of candidates) {
    if (c.endsWith('.js') && fs.existsSync(c)) return c;
  }
  return null;
}

function buildCore(src) {
  if (!have('cmake')) fail('building from source needs CMake (>= 3.25) on the PATH');
  const buildDir = path.resolve(process.env.NEARKIT_NODE_CORE_BUILD_DIR || path.join(nodeRoot, 'build-core'));
  const configure = ['-S', path.join(nodeRoot, 'cmake'), '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release', `-DNEARKIT_ROOT=${src}`];
  if (!fs.existsSync(path.join(buildDir, 'CMakeCache.txt')) && !process.env.CMAKE_GENERATOR && have('ninja')) {
    configure.push('-G', 'Ninja');
  }
  run('cmake', configure);
  run('cmake', ['--build', buildDir, '--target', 'nearkit_static', '--parallel', jobs]);
  const infoFile = path.join(buildDir, 'link-info.json');
  if (!fs.existsSync(infoFile)) fail(`CMake did not write ${infoFile}`);
  return JSON.parse(fs.readFileSync(infoFile, 'utf8'));
}

// bindings/ (handle.c, shared with the Python binding) relative to node/: gyp's make generator
// cannot place the object file of a source given by an absolute path.
function bindingsDir(src) {
  return path.relative(nodeRoot, path.join(src, 'bindings')).split(path.sep).join('/');
}

function main() {
  const prebuild = process.argv.includes('--prebuild');
  const src = sourceRoot();
  if (!fs.existsSync(path.join(src, 'include', 'nearkit.h')) || !fs.existsSync(path.join(src, 'bindings', 'handle.c'))) {
    fail(`no nearkit sources at ${src}`);
  }

  const nodeDir = findNodeDir();
  if (!nodeDir) {
    fail(
      'the Node.js headers (include/node/node_api.h and common.gypi) were not found next to ' +
        `${process.execPath}, in /usr or /usr/local. Install them (Debian: libnode-dev) or set ` +
        'npm_config_nodedir to the directory that holds include/node. Nothing is downloaded.'
    );
  }
  const gyp = findNodeGyp();
  if (!gyp) fail('node-gyp was not found (it ships with npm); install npm or node-gyp');

  const info = buildCore(src);
  const libs = [info.library, ...info.link];
  for (const item of libs) {
    if (/\s/.test(item)) fail(`a link item contains whitespace, which node-gyp cannot pass: ${item}`);
  }
  run(process.execPath, [
    gyp,
    'rebuild',
    `--nodedir=${nodeDir}`,
    `--jobs=${jobs}`,
    `--nearkit-include=${info.include}`,
    `--nearkit-bindings=${bindingsDir(src)}`,
    `--nearkit-libs=${libs.join(' ')}`,
  ]);
  if (!fs.existsSync(builtPath)) fail(`node-gyp did not produce ${builtPath}`);
  if (prebuild) {
    fs.mkdirSync(path.dirname(prebuiltPath), { recursive: true });
    fs.copyFileSync(builtPath, prebuiltPath);
    console.log(`nearkit: wrote ${path.relative(nodeRoot, prebuiltPath)}`);
  }
}

main();
