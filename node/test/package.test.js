'use strict';
// The npm package: `npm pack` makes a tarball with a prebuilt binary for this platform and the C
// sources; the sample project (examples/) installs it without compiling anything and runs a
// search; an install forced to build from source (as on a platform without a prebuilt binary)
// compiles the shipped sources without downloading anything.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');
const { nodeRoot, tmpDir } = require('./helpers');

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const platformDir = `${process.platform}-${process.arch}`;
const work = tmpDir('nearkit-pack-');
let tarball = null;

function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options, env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...(options.env || {}) } });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function makeApp(name) {
  const app = path.join(work, name);
  fs.cpSync(path.join(nodeRoot, 'examples'), app, {
    recursive: true,
    filter: (src) => !/node_modules|package-lock\.json/.test(path.relative(path.join(nodeRoot, 'examples'), src)),
  });
  return app;
}

test('npm pack makes a tarball with the prebuilt binary and the C sources', () => {
  sh(npm, ['pack', '--pack-destination', work], { cwd: nodeRoot });
  const name = fs.readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(name, 'no tarball written');
  tarball = path.join(work, name);
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const f of [
    `package/prebuilds/${platformDir}/nearkit.node`,
    'package/lib/index.js',
    'package/lib/binding.js',
    'package/index.d.ts',
    'package/package.json',
    'package/binding.gyp',
    'package/src/nearkit_node.c',
    'package/scripts/install.js',
    'package/scripts/build.js',
    'package/cmake/CMakeLists.txt',
    'package/deps/nearkit/include/nearkit.h',
    'package/deps/nearkit/CMakeLists.txt',
    'package/deps/nearkit/bindings/handle.c',
    'package/deps/nearkit/bindings/handle.h',
    'package/LICENSE',
    'package/THIRD_PARTY_NOTICES.txt',
    'package/demo/server.js',
    'package/demo/page.html',
    'package/demo/app.js',
  ]) {
    assert.ok(files.includes(f), `${f} is missing from the tarball`);
  }
  assert.ok(files.some((f) => /^package\/deps\/nearkit\/core\/.*\.c$/.test(f)), 'core sources missing');
  for (const f of files) {
    assert.ok(!/^package\/(test|examples|build|build-core|node_modules)\//.test(f), `${f} should not be packed`);
    assert.ok(!/^package\/demo\/(e2e|headless)\.js$/.test(f), `${f} (the demo's test tooling) should not be packed`);
  }
  assert.ok(!fs.existsSync(path.join(nodeRoot, 'deps')), 'postpack removes the vendored copy');
  assert.ok(!fs.existsSync(path.join(nodeRoot, 'THIRD_PARTY_NOTICES.txt')), 'postpack removes the notices copy');
  const manifest = JSON.parse(execFileSync('tar', ['xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
  assert.equal(manifest.license, 'Apache-2.0');
});

// Run in the sample project: starts node_modules/.bin/nearkit-demo on a free port and asks it.
const DEMO_SMOKE = `
const { spawn } = require('child_process');
const bin = require('path').join('node_modules', '.bin', 'nearkit-demo');
const child = spawn(bin, ['--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
child.stdout.once('data', async (line) => {
  try {
    const url = /http:\\/\\/\\S+\\//.exec(String(line))[0];
    const page = await fetch(url);
    const html = (await page.text()).includes('<canvas id="voronoi"') ? 'html' : 'not the page';
    const data = await fetch(url + 'api/dataset?n=1000');
    const floats = (await data.arrayBuffer()).byteLength / 4;
    const knn = await fetch(url + 'api/knn?x=0.5&y=0.5&k=3');
    const ids = (await knn.json()).ids.length;
    const bad = await fetch(url + 'api/knn?x=0.5&y=0.5&k=0');
    console.log(\`page \${page.status} \${html}, dataset \${data.status} of \${floats} floats, knn \${knn.status} with \${ids} ids, bad k \${bad.status}\`);
  } finally {
    child.kill();
  }
});
`;

test('the sample project installs the tarball without compiling and runs a search', { timeout: 300000 }, () => {
  assert.ok(tarball, 'the pack test ran first');
  const app = makeApp('app');
  sh(npm, ['install', '--offline', '--no-save', tarball], { cwd: app });
  const installed = path.join(app, 'node_modules', 'nearkit');
  assert.ok(fs.existsSync(path.join(installed, 'prebuilds', platformDir, 'nearkit.node')));
  assert.ok(!fs.existsSync(path.join(installed, 'build')), 'nothing was compiled at install');
  const out = sh(process.execPath, ['index.js'], { cwd: app });
  assert.match(out, /^nearkit \d+\.\d+\.\d+; kinds: .*flat/m);
  assert.match(out, /^nearest to vector 500: 500 (499 501|501 499) \(distance 0\)$/m);
  assert.match(out, /^async batch: 10 queries, first ids 0 1 2$/m);
  assert.match(out, /^loaded copy: 1000 vectors, same answer: true$/m);
  assert.match(out, /^after close: ERR_NEARKIT_CLOSED$/m);
  const esm = sh(process.execPath, ['index.mjs'], { cwd: app });
  assert.match(esm, /^esm \d+\.\d+\.\d+: hamming neighbours 1 2 at 1 5$/m);

  // `npx nearkit-demo` from the installed package: the bin starts the demo server, which serves
  // the page and answers (and refuses bad input with a 400)
  const demo = sh(process.execPath, ['-e', DEMO_SMOKE], { cwd: app });
  assert.match(demo, /^page 200 html, dataset 200 of 2000 floats, knn 200 with 3 ids, bad k 400$/m);

  // The shipped TypeScript declarations type-check, where a TypeScript compiler is installed.
  const tsc = spawnSync('tsc', ['--version'], { encoding: 'utf8' });
  if (!tsc.error && tsc.status === 0) {
    sh('tsc', ['--noEmit', '--strict', '--target', 'es2020', '--module', 'commonjs', '--moduleResolution', 'node', 'typed.ts'], { cwd: app });
  }
});

test(
  'on a platform without a usable prebuilt binary, install builds from the shipped sources',
  { timeout: 600000, skip: process.env.NEARKIT_SKIP_SOURCE_BUILD_TEST ? 'NEARKIT_SKIP_SOURCE_BUILD_TEST is set' : false },
  () => {
    assert.ok(tarball, 'the pack test ran first');
    const app = makeApp('app-source');
    sh(npm, ['install', '--offline', '--no-save', '--foreground-scripts', tarball], {
      cwd: app,
      env: { NEARKIT_BUILD_FROM_SOURCE: '1' },
    });
    const installed = path.join(app, 'node_modules', 'nearkit');
    assert.ok(fs.existsSync(path.join(installed, 'build', 'Release', 'nearkit.node')), 'built from source');
    const out = sh(process.execPath, ['index.js'], { cwd: app });
    assert.match(out, /^nearest to vector 500: 500 /m);
  }
);

test('clean up', () => {
  fs.rmSync(work, { recursive: true, force: true });
});
