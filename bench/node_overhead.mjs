#!/usr/bin/env node
// Call overhead of nearkit's Node.js package against the same calls in C.
//
//     node bench/node_overhead.mjs [--c-bench build/bench_overhead_c] [--rounds 101] [--calls 1000]
//
// Per-call overhead, paired. A single-query search of a 10,000-vector index costs ~30 us and the
// difference of two such medians, taken by two processes at different moments on a shared
// machine, swings by several microseconds. So the overhead is measured where the C call itself
// costs well under a microsecond, with C and Node alternating:
//   - the C side is `bench_overhead_c --serve DIR` (see bench/overhead_c.c), a child process that
//     holds two tiny single-thread indexes over the first 4 rows of DIR/base.fvecs (flat l2; hnsw
//     l2) and times a block of single-query k = 1 searches on request;
//   - Node builds the same two indexes from the same file and times the same block of synchronous
//     calls through the package (`index.search(q, 1)`, q a Float32Array view of one of the first
//     64 queries, the result arrays allocated by the call), right before or right after the C
//     block (the order alternates from round to round, so drift in load favours neither side);
//   - both sides time a block on CPU clocks (process.cpuUsage() here, user + system time of the
//     process, in microseconds; the thread's CLOCK_THREAD_CPUTIME_ID in C), so time spent waiting
//     for a core while other jobs run, most of the noise on a shared machine, counts on neither;
//   - one round gives one difference of the mean per-call times (Node block minus C block);
//     --rounds rounds (default 101) of --calls calls per block (default 1,000, after 50 untimed).
// node_overhead_us is the median of the paired differences on the flat index, with its
// interquartile range; node_overhead_params_us the same for the hnsw index searched with the
// per-call parameter ef_search = 4 (`index.search(q, 1, { efSearch: 4 })` against
// nearkit_search_options.params in C): the per-call settings path.
//
// Batch, unchanged: the C program `bench_overhead_c DIR` times a 10,000-query k = 10 batch on the
// 10,000 x 32 flat l2 index (best of 5), Node the same batch through searchAsync (the
// Promise-returning search on the libuv thread pool, from the call until the Promise settles) and,
// for information, through the synchronous search; best of 3 rounds each.
//
// Prints name=value lines: c_tiny_us, node_tiny_us (medians of the blocks' mean per-call times),
// node_overhead_us, node_overhead_iqr_us (p25..p75 of the paired differences), the same with
// _params, node_overhead_in_c_calls (node_overhead_us / c_tiny_us: other jobs on the cores slow
// both sides alike, so this ratio moves less from run to run than the microseconds), and
// c_batch_s, node_batch_s, node_batch_vs_c, node_batch_sync_s.
// Targets (issue 18): node_overhead_us <= 2, stable within 0.5 us over three runs.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const require = createRequire(import.meta.url);
const { Index } = require(path.join(repo, 'node'));

const K = 10;
const BATCH_RUNS = 5;
const BATCH_ROUNDS = 3;
// The paired measurement's tiny indexes: as in bench/overhead_c.c.
const TINY_N = 4;
const TINY_Q = 64;
const TINY_K = 1;
const TINY_EF = 4;
const WARMUP_BLOCK = 50;

function parseArgs(argv) {
  const args = { cBench: path.join(repo, 'build', 'bench_overhead_c'), rounds: 101, calls: 1000 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--c-bench') args.cBench = argv[++i];
    else if (argv[i] === '--rounds') args.rounds = Number(argv[++i]);
    else if (argv[i] === '--calls') args.calls = Number(argv[++i]);
    else {
      console.error('usage: node bench/node_overhead.mjs [--c-bench PATH] [--rounds N] [--calls N]');
      process.exit(2);
    }
  }
  if (!(args.rounds >= 1)) args.rounds = 1;
  if (!(args.calls >= 1)) args.calls = 1;
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
  return values;
}

// The C side of the paired measurement: `bench_overhead_c --serve DIR` as a child process.
class CServer {
  constructor(program, dir) {
    this.child = spawn(program, ['--serve', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async nextLine() {
    const { value, done } = await this.lines.next();
    if (done) throw new Error('node_overhead: the C program ended early');
    return value;
  }

  async ready() {
    if ((await this.nextLine()) !== 'ready') throw new Error('node_overhead: the C program did not start serving');
  }

  async blockUs(what, calls) {
    this.child.stdin.write(`${what} ${calls}\n`);
    const line = await this.nextLine();
    if (!line.startsWith('us=')) throw new Error(`node_overhead: the C program answered ${line} to ${what}`);
    return Number(line.slice(3));
  }

  close() {
    this.child.stdin.end('quit\n');
  }
}

function percentile(xs, p) {
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
}

// Microseconds of CPU time the process has used (user + system). Node 20 has no per-thread CPU
// clock; the process's also counts V8's helper threads (concurrent GC, compilers), which work for
// this thread's calls anyway.
function cpuUs() {
  const { user, system } = process.cpuUsage();
  return user + system;
}

// Mean microseconds per call of `calls` searches, after WARMUP_BLOCK untimed ones, as C does.
function flatBlockUs(index, rows, calls) {
  for (let r = 0; r < WARMUP_BLOCK; r++) index.search(rows[r % TINY_Q], TINY_K);
  const t0 = cpuUs();
  for (let r = 0; r < calls; r++) index.search(rows[(r + WARMUP_BLOCK) % TINY_Q], TINY_K);
  return (cpuUs() - t0) / calls;
}

// flatBlockUs for searches with the per-call parameter ef_search.
function paramsBlockUs(index, rows, calls) {
  for (let r = 0; r < WARMUP_BLOCK; r++) index.search(rows[r % TINY_Q], TINY_K, { efSearch: TINY_EF });
  const t0 = cpuUs();
  for (let r = 0; r < calls; r++) index.search(rows[(r + WARMUP_BLOCK) % TINY_Q], TINY_K, { efSearch: TINY_EF });
  return (cpuUs() - t0) / calls;
}

// Median C and Node per-call times and the paired differences over `rounds` adjacent block pairs.
async function paired(server, what, block, index, rows, rounds, calls) {
  const c = [];
  const js = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2) {
      js.push(block(index, rows, calls));
      c.push(await server.blockUs(what, calls));
    } else {
      c.push(await server.blockUs(what, calls));
      js.push(block(index, rows, calls));
    }
  }
  return { c: percentile(c, 0.5), js: percentile(js, 0.5), diffs: js.map((t, i) => t - c[i]) };
}

function tinyIndex(kind, base) {
  const index = new Index({ kind, metric: 'l2', dimension: base.dim, numThreads: 1 });
  index.add(base.data.subarray(0, TINY_N * base.dim));
  index.build();
  return index;
}

async function measureOverheads(program, dir, base, queries, rounds, calls) {
  const rows = [];
  for (let i = 0; i < TINY_Q; i++) rows.push(queries.data.subarray(i * queries.dim, (i + 1) * queries.dim));
  const flat = tinyIndex('flat', base);
  const hnsw = tinyIndex('hnsw', base);
  const server = new CServer(program, dir);
  const report = {};
  try {
    await server.ready();
    const plain = await paired(server, 'flat', flatBlockUs, flat, rows, rounds, calls);
    const withParams = await paired(server, 'params', paramsBlockUs, hnsw, rows, rounds, calls);
    report.c_tiny_us = plain.c.toFixed(3);
    report.node_tiny_us = plain.js.toFixed(3);
    for (const [name, diffs] of [['node_overhead', plain.diffs], ['node_overhead_params', withParams.diffs]]) {
      report[`${name}_us`] = percentile(diffs, 0.5).toFixed(3);
      report[`${name}_iqr_us`] = `${percentile(diffs, 0.25).toFixed(3)}..${percentile(diffs, 0.75).toFixed(3)}`;
    }
    report.node_overhead_in_c_calls = (percentile(plain.diffs, 0.5) / plain.c).toFixed(3);
  } finally {
    server.close();
    flat.close();
    hnsw.close();
  }
  return report;
}

async function batchTimes(base, queries) {
  const index = new Index({ kind: 'flat', metric: 'l2', dimension: base.dim, numThreads: 1 });
  index.add(base.data);
  index.build();
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
  return { batch, batchSync };
}

const args = parseArgs(process.argv.slice(2));
if (!fs.existsSync(args.cBench)) {
  console.error(`node_overhead: ${args.cBench} not found (build the target bench_overhead_c, or pass --c-bench)`);
  process.exit(1);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nearkit-node-bench-'));
try {
  let cBatch = Infinity;
  let js = { batch: Infinity, batchSync: Infinity };
  let base;
  let queries;
  for (let round = 0; round < BATCH_ROUNDS; round++) {
    cBatch = Math.min(cBatch, runC(args.cBench, dir).c_batch_s);
    if (!base) {
      base = readFvecs(path.join(dir, 'base.fvecs'));
      queries = readFvecs(path.join(dir, 'queries.fvecs'));
    }
    const nr = await batchTimes(base, queries);
    js = { batch: Math.min(js.batch, nr.batch), batchSync: Math.min(js.batchSync, nr.batchSync) };
  }
  const report = await measureOverheads(args.cBench, dir, base, queries, args.rounds, args.calls);
  for (const [name, value] of Object.entries(report)) console.log(`${name}=${value}`);
  console.log(`c_batch_s=${cBatch.toFixed(6)}`);
  console.log(`node_batch_s=${js.batch.toFixed(6)}`);
  console.log(`node_batch_vs_c=${(js.batch / cBatch).toFixed(4)}`);
  console.log(`node_batch_sync_s=${js.batchSync.toFixed(6)}`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
