'use strict';
// The shipped TypeScript declarations (index.d.ts) against every documented example, with
// `tsc --strict --noEmit`: each js / ts code block of README.md and examples/typed.ts, in a
// temporary project whose node_modules/nearkit is this package (resolved through package.json's
// "exports", as a user's project resolves it). Two compiler setups: a current one (ES2022, Node16
// modules, `lib` with esnext.disposable, so that `using` is available) and an older one (ES2020,
// CommonJS, no disposable lib) that a project may still have. Then a `using` block compiled by tsc
// is run, to check that the emitted code closes the index.
//
// Needs tsc 5.2 or later: node_modules/.bin/tsc (typescript is a devDependency), else the one on
// PATH (ci/deps-node.sh installs it).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { nodeRoot, tmpDir } = require('./helpers');

function findTsc() {
  const local = path.join(nodeRoot, 'node_modules', '.bin', process.platform === 'win32' ? 'tsc.cmd' : 'tsc');
  for (const tsc of [local, 'tsc']) {
    const r = spawnSync(tsc, ['--version'], { encoding: 'utf8' });
    if (!r.error && r.status === 0) return { tsc, version: r.stdout.trim() };
  }
  return null;
}

const found = findTsc();
const work = tmpDir('nearkit-types-');

// The names README examples use without defining them: the reader's data, and the one Node.js
// global they use (console, declared here as @types/node would, which these projects do without).
const AMBIENT = {
  name: 'ambient.d.ts',
  code: `declare global {
  const vectors: Float32Array;
  const queries: Float32Array;
  const tenantIds: BigInt64Array;
  const console: { log(...values: unknown[]): void };
}
export {};
`,
};

// The code blocks of README.md tagged js or ts, each as a module of its own: ts blocks as .mts
// (ES modules, where top-level await is allowed), js blocks as .cjs checked with checkJs; a js
// block with a top-level await runs in an async function, as CommonJS needs.
function readmeExamples() {
  const text = fs.readFileSync(path.join(nodeRoot, 'README.md'), 'utf8');
  const blocks = [...text.matchAll(/^```(js|ts)\n([\s\S]*?)^```$/gm)];
  return blocks.map((m, i) => {
    const [, lang, code] = m;
    if (lang === 'ts') return { name: `readme-${i}.mts`, code };
    const body = /\bawait\b/.test(code) ? `(async () => {\n${code}})();\n` : code;
    return { name: `readme-${i}.cjs`, code: body };
  });
}

function project(name, files, compilerOptions) {
  const dir = path.join(work, name);
  fs.mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
  fs.symlinkSync(nodeRoot, path.join(dir, 'node_modules', 'nearkit'), 'dir');
  for (const f of files) fs.writeFileSync(path.join(dir, f.name), f.code);
  const config = {
    compilerOptions: { strict: true, noEmit: true, types: [], skipLibCheck: false, ...compilerOptions },
    files: files.map((f) => f.name),
  };
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config, null, 2));
  return dir;
}

function tsc(dir, args = []) {
  const r = spawnSync(found.tsc, ['-p', 'tsconfig.json', ...args], { cwd: dir, encoding: 'utf8' });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `tsc in ${dir} failed:\n${r.stdout}\n${r.stderr}`);
}

const typed = { name: 'typed.ts', code: fs.readFileSync(path.join(nodeRoot, 'examples', 'typed.ts'), 'utf8') };
const skip = found ? false : 'no TypeScript compiler: npm install in node/ (devDependency) or ci/deps-node.sh';

test('tsc is 5.2 or later (needed for `using`)', { skip }, () => {
  const [major, minor] = found.version.replace(/^Version /, '').split('.').map(Number);
  assert.ok(major > 5 || (major === 5 && minor >= 2), `${found.tsc}: ${found.version}`);
});

test('README examples and examples/typed.ts pass tsc --strict (ES2022, Node16 modules, esnext.disposable)', { skip }, () => {
  const examples = readmeExamples();
  assert.ok(examples.some((e) => e.name.endsWith('.cjs')), 'README has a js example');
  assert.ok(examples.some((e) => /\busing\b/.test(e.code)), 'README has an example with `using`');
  const files = [AMBIENT, ...examples, typed];
  const dir = project('current', files, {
    target: 'es2022',
    lib: ['es2022', 'esnext.disposable'],
    module: 'node16',
    moduleResolution: 'node16',
    moduleDetection: 'force',
    allowJs: true,
    checkJs: true,
  });
  tsc(dir);
});

test('examples/typed.ts passes tsc --strict with an older setup (ES2020, CommonJS, no disposable lib)', { skip }, () => {
  const dir = project('older', [typed], { target: 'es2020', lib: ['es2020'], module: 'commonjs', moduleResolution: 'node' });
  tsc(dir);
});

test('a `using` block compiled by tsc closes the index', { skip: skip || (typeof Symbol.dispose !== 'symbol' && 'no Symbol.dispose in this runtime') }, () => {
  const code = `import { Index } from 'nearkit';
let kept: Index | undefined;
{
  using index = new Index({ dimension: 2 });
  index.add([[0, 0], [1, 1]]);
  kept = index;
  console.log(index.search([0.9, 0.9], 1).idsAsNumbers()[0], index.closed);
}
console.log(kept.closed);
`;
  const dir = project('run', [AMBIENT, { name: 'using.ts', code }], {
    noEmit: false,
    outDir: 'out',
    target: 'es2022',
    lib: ['es2022', 'esnext.disposable'],
    module: 'commonjs',
    moduleResolution: 'node',
  });
  tsc(dir);
  const r = spawnSync(process.execPath, [path.join('out', 'using.js')], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '1 false\ntrue\n');
});

test('clean up', () => {
  fs.rmSync(work, { recursive: true, force: true });
});
