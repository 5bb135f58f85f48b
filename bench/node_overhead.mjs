#!/usr/bin/env node
// Call overhead of nearkit's Node.js package against the same calls in C.
//
//     node bench/node_overhead.mjs [--c-bench build/bench_overhead_c] [--rounds 3]
//
// Runs the C baseline `bench_overhead_c DIR` (it writes DIR/base.fvecs, 10,000 x 32 clustered
// floats, and DIR/queries.fvecs, and prints c_single_us / c_batch_s), loads the same files, builds
// the same flat l2 index with numThreads = 1 through the Node package (node/, built with
// `npm run build` there) and measures the same two things:
//   - the median time of one single-query k = 10 synchronous search (2,000 calls, each timed
//     alone; the query is a Float32Array view into the query set, passed without a copy; the result
//     arrays are allocated by the call);
//   - the best of 5 times of one 10,000-query k = 10 batch search through searchAsync (the
//     Promise-returning search on the libuv thread pool), from the call until the Promise settles.
// Each round runs C then Node; the best round of each side is reported, which keeps other load on
// the machine out of the comparison.
//
// Prints name=value lines: c_single_us, c_batch_s, node_single_us, node_overhead_us
// (node_single_us - c_single_us), node_batch_s, node_batch_vs_c (node_batch_s / c_batch_s), and
// for information node_batch_sync_s (the same batch through the synchronous search).
// Targets: node_overhead_us < 5, node_batch_vs_c < 1.05.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const require = createRequire(import.meta.url);
const { Index } = require(path.join(repo, 'node'));

const K = 10;
const SINGLE_RUNS = 2000;
const BATCH_RUNS = 5;

function parseArgs(argv) {
  const args = { cBench: path.join(repo, 'build', 'bench_overhead_c'), rounds: 3 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--c-bench') args.cBench = argv[++i];
    else if (argv[i] === '--rounds') args.rounds = Number(argv[++i]);
    else {
      console.error('usage: node bench/node_overhead.mjs [--c-bench PATH] [--rounds N]');
      process.exit(2);
    }
  }
  if (!(args.rounds >= 1)) args.rounds = 1;
  return args;
}

function readFvecs(file) {
  const buf = fs.readFileSync(file);
  const dim = buf.readInt32LE(0);
  const rowBytes = 4 + 4 * dim;
  if (buf.length % rowBytes !== 0) throw new Error(`${file}: not a .fvecs file of dimension ${dim}`);
  const n = buf.length / rowBytes;
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    if (buf.readInt32LE(i * rowBytes) !== dim) throw new Error(`${file}: rows of different lengths`);
    for (let j = 0; j < dim; j++) out[i * dim + j] = buf.readFloatLE(i * rowBytes + 4 + 4 * j);
  }
  return { data: out, n, dim };
}

function runC(program, dir) {
  const out = execFileSync(program, [dir], { encoding: 'utf8' });
  const values = {};
  for (const line of out.split('\n')) {
    const [name, value] = line.split('=');
    if (value !== undefined) values[name.trim()] = Number(value);
  }
  return { single: values.c_single_us, batch: values.c_batch_s };
}

function median(xs) {
  const s = Float64Array.from(xs).sort();
  return s[s.length >> 1];
}

async function runNode(base, queries) {
  const index = new Index({ kind: 'flat', metric: 'l2', dimension: base.dim, numThreads: 1 });
  index.add(base.data);
  index.build();
  const rows = [];
  for (let r = 0; r < SINGLE_RUNS; r++) {
    const i = r % queries.n;
    rows.push(queries.data.subarray(i * queries.dim, (i + 1) * queries.dim)); // views, no copies
  }
  for (let r = 0; r < 200; r++) index.search(rows[r], K); // warm up (JIT, caches)
  const single = new Float64Array(SINGLE_RUNS);
  for (let r = 0; r < SINGLE_RUNS; r++) {
    const q = rows[r];
    const t0 = process.hrtime.bigint();
    index.search(q, K);
    single[r] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  let batch = Infinity;
  for (let r = 0; r < BATCH_RUNS; r++) {
    const t0 = process.hrtime.bigint();
    const result = await index.searchAsync(queries.data, K);
    const t = Number(process.hrtime.bigint() - t0) / 1e9;
    if (result.count !== queries.n) throw new Error('short batch result');
    if (t < batch) batch = t;
  }
  let batchSync = Infinity;
  for (let r = 0; r < BATCH_RUNS; r++) {
    const t0 = process.hrtime.bigint();
    index.search(queries.data, K);
    batchSync = Math.min(batchSync, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  index.close();
  return { single: median(single), batch, batchSync };
}

const args = parseArgs(process.argv.slice(2));
if (!fs.existsSync(args.cBench)) {
  console.error(`node_overhead: ${args.cBench} not found (build the target bench_overhead_c, or pass --c-bench)`);
  process.exit(1);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nearkit-node-bench-'));
try {
  let c = { single: Infinity, batch: Infinity };
  let js = { single: Infinity, batch: Infinity, batchSync: Infinity };
  let base;
  let queries;
  for (let round = 0; round < args.rounds; round++) {
    const cr = runC(args.cBench, dir);
    c = { single: Math.min(c.single, cr.single), batch: Math.min(c.batch, cr.batch) };
    if (!base) {
      base = readFvecs(path.join(dir, 'base.fvecs'));
      queries = readFvecs(path.join(dir, 'queries.fvecs'));
    }
    const nr = await runNode(base, queries);
    js = {
      single: Math.min(js.single, nr.single),
      batch: Math.min(js.batch, nr.batch),
      batchSync: Math.min(js.batchSync, nr.batchSync),
    };
  }
  console.log(`c_single_us=${c.single.toFixed(3)}`);
  console.log(`c_batch_s=${c.batch.toFixed(6)}`);
  console.log(`node_single_us=${js.single.toFixed(3)}`);
  console.log(`node_overhead_us=${(js.single - c.single).toFixed(3)}`);
  console.log(`node_batch_s=${js.batch.toFixed(6)}`);
  console.log(`node_batch_vs_c=${(js.batch / c.batch).toFixed(4)}`);
  console.log(`node_batch_sync_s=${js.batchSync.toFixed(6)}`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
