'use strict';
// Asynchronous calls own their inputs: JavaScript may detach (transfer) the ArrayBuffer behind a
// typed array it passed, and the garbage collector may free that memory, while the call still runs
// on the libuv pool. Every *Async call must give the result its inputs had when it was called.
//
// The scenario runs in a child process started with --expose-gc, so that a read of freed memory
// shows up as a crash of the child (with its signal) instead of taking the test runner down. The
// child has one libuv pool thread, kept busy by a long search while each call under test waits
// in the queue: its inputs are detached and freed before it can start, every time.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawnSync } = require('child_process');

const script = `
const nk = require(${JSON.stringify(path.join(__dirname, '..'))});
const { randomVectors } = require(${JSON.stringify(path.join(__dirname, 'helpers.js'))});

const DIM = 32;
const base = randomVectors(20000, DIM, 3);

// Detaches the buffers behind typed arrays and lets the collector free them; then fills fresh
// buffers of the same sizes with other bytes, so freed memory that is reused reads differently.
const litter = [];
function detach(...arrays) {
  const sizes = arrays.map((a) => a.byteLength);
  for (const a of arrays) structuredClone(a.buffer, { transfer: [a.buffer] });
  for (const a of arrays) if (a.byteLength !== 0 || a.length !== 0) throw new Error('not detached');
  global.gc();
  litter.length = 0;
  for (const size of sizes) for (let i = 0; i < 4; i++) litter.push(new Uint8Array(size).fill(0x7f));
}

function sameKnn(got, want, what) {
  if (got.ids.length !== want.ids.length) throw new Error(what + ': result length differs');
  for (let i = 0; i < want.ids.length; i++) {
    if (got.ids[i] !== want.ids[i] || !Object.is(got.distances[i], want.distances[i])) {
      throw new Error(what + ': entry ' + i + ' is ' + got.ids[i] + '/' + got.distances[i] +
                      ', want ' + want.ids[i] + '/' + want.distances[i]);
    }
  }
}

function sameRange(got, want, what) {
  if (JSON.stringify([...got.offsets]) !== JSON.stringify([...want.offsets])) throw new Error(what + ': offsets differ');
  sameKnn(got, want, what);
}

async function main() {
  const index = new nk.Index({ metric: 'l2', dimension: DIM, numThreads: 1 });
  index.add(base);
  const queries = randomVectors(1000, DIM, 5);
  const want = index.search(queries, 10);
  const wantRange = index.rangeSearch(queries, 1.1);
  // Occupies the only pool thread, so that the next call waits in the queue.
  const slowQueries = randomVectors(1500, DIM, 11);
  // Starts an async call while the pool is busy, detaches its input arrays, returns its promise.
  async function whileQueued(start, ...inputs) {
    const blocker = index.searchAsync(slowQueries, 10);
    const pending = start(...inputs);
    detach(...inputs);
    await blocker;
    return pending;
  }

  for (let round = 0; round < 3; round++) {
    const got = await whileQueued((q) => index.searchAsync(q, 10), queries.slice());
    sameKnn(got, want, 'searchAsync round ' + round);
    const gotRange = await whileQueued((q) => index.rangeSearchAsync(q, 1.1), queries.slice());
    sameRange(gotRange, wantRange, 'rangeSearchAsync round ' + round);
  }

  // addAsync: vectors and ids.
  const ids = BigInt64Array.from({ length: 20000 }, (_, i) => BigInt(3 * i + 7));
  const reference = new nk.Index({ metric: 'l2', dimension: DIM, numThreads: 1 });
  reference.add(base, ids);
  const wantAdded = reference.search(queries, 10);
  for (let round = 0; round < 3; round++) {
    const added = new nk.Index({ metric: 'l2', dimension: DIM, numThreads: 1 });
    await whileQueued((v, i) => added.addAsync(v, i), base.slice(), ids.slice());
    sameKnn(added.search(queries, 10), wantAdded, 'addAsync round ' + round);
    added.close();
  }

  // trainAsync: the same centroids as a synchronous training on the same data and seed.
  const options = { kind: 'ivf_flat', metric: 'l2', dimension: DIM, numThreads: 1, seed: 9, params: { nlist: 16, nprobe: 16 } };
  const trainedSync = new nk.Index(options);
  trainedSync.train(base);
  trainedSync.add(base);
  const wantTrained = trainedSync.search(queries, 10);
  const trained = new nk.Index(options);
  await whileQueued((t) => trained.trainAsync(t), base.slice());
  trained.add(base);
  sameKnn(trained.search(queries, 10), wantTrained, 'trainAsync');

  // fromBufferAsync: the bytes of a saved index.
  const bytes = new Uint8Array(index.toBuffer());
  for (let round = 0; round < 3; round++) {
    const loaded = await whileQueued((b) => nk.Index.fromBufferAsync(b), bytes.slice());
    sameKnn(loaded.search(queries, 10), want, 'fromBufferAsync round ' + round);
    loaded.close();
  }
  console.log('ok');
}

main().then(() => process.exit(0), (e) => { console.error(e && e.stack || e); process.exit(1); });
`;

test('async calls read their own copy of inputs that JavaScript detaches and frees meanwhile', { timeout: 300000 }, () => {
  if (typeof structuredClone !== 'function') return; // Node.js < 17 cannot detach this way
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
    encoding: 'utf8',
    timeout: 240000,
    env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
  });
  assert.equal(r.signal, null, `the child died of ${r.signal}: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'ok\n');
});
