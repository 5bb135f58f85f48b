'use strict';
// Asynchronous work on the libuv pool: many searches in flight on one index, close while they
// run, writers excluded from readers, finalizers, worker threads.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { spawnSync } = require('child_process');
const { Worker } = require('worker_threads');
const nk = require('..');
const { randomVectors } = require('./helpers');

const DIM = 16;
const base = randomVectors(5000, DIM, 21);

function makeIndex(numThreads = 1) {
  const index = new nk.Index({ metric: 'l2', dimension: DIM, numThreads });
  index.add(base);
  return index;
}

test('many searches in flight on one index give the synchronous results', async () => {
  const index = makeIndex();
  const batches = Array.from({ length: 64 }, (_, i) => randomVectors(20, DIM, 100 + i));
  const want = batches.map((q) => index.search(q, 7));
  const got = await Promise.all(batches.map((q) => index.searchAsync(q, 7)));
  got.forEach((r, i) => {
    assert.deepEqual(r.ids, want[i].ids, `batch ${i}`);
    assert.deepEqual(r.distances, want[i].distances, `batch ${i}`);
  });
  const ranges = await Promise.all(batches.slice(0, 16).map((q) => index.rangeSearchAsync(q, 0.6)));
  ranges.forEach((r, i) => assert.deepEqual(r, index.rangeSearch(batches[i], 0.6)));
  index.close();
});

test('the event loop keeps running while searches are in flight', async () => {
  const index = makeIndex(1);
  const q = randomVectors(2000, DIM, 5);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  await Promise.all([index.searchAsync(q, 10), index.searchAsync(q, 10), index.searchAsync(q, 10)]);
  clearInterval(timer);
  assert.ok(ticks > 0, 'the timer fired while the pool worked');
  index.close();
});

test('close while searches are in flight: they finish, later calls fail, nothing crashes', async () => {
  for (let round = 0; round < 5; round++) {
    const index = makeIndex();
    const q = randomVectors(50, DIM, 7 + round);
    const want = index.search(q, 5);
    const pending = Array.from({ length: 40 }, () => index.searchAsync(q, 5));
    pending.push(index.addAsync(randomVectors(3, DIM, 99)));
    pending.push(index.rangeSearchAsync(q, 0.5));
    index.close(); // does not wait, does not free under the running searches
    assert.equal(index.closed, true);
    assert.throws(() => index.search(q, 5), { code: 'ERR_NEARKIT_CLOSED' });
    await assert.rejects(index.searchAsync(q, 5), { code: 'ERR_NEARKIT_CLOSED' });
    const results = await Promise.allSettled(pending);
    results.forEach((r, i) => assert.equal(r.status, 'fulfilled', `operation ${i}: ${r.reason}`));
    // Searches that ran before the add see the original data; a search can never see a torn state.
    for (const r of results.slice(0, 40)) {
      assert.equal(r.value.count, 50);
      assert.equal(r.value.ids.length, 250);
    }
    assert.deepEqual(results[0].value.ids, want.ids);
  }
});

test('close from a completion callback while others are still queued', async () => {
  const index = makeIndex();
  const q = randomVectors(10, DIM, 3);
  const all = [];
  for (let i = 0; i < 30; i++) {
    all.push(
      index.searchAsync(q, 3).then((r) => {
        if (!index.closed) index.close();
        return r;
      })
    );
  }
  const settled = await Promise.allSettled(all);
  assert.ok(settled.every((s) => s.status === 'fulfilled'));
  assert.equal(index.closed, true);
});

test('writers are exclusive: each concurrent search sees the index before or after an add', async () => {
  const index = new nk.Index({ metric: 'l2', dimension: DIM, numThreads: 1 });
  const first = base.subarray(0, 2500 * DIM);
  const second = base.subarray(2500 * DIM);
  index.add(first);
  const q = randomVectors(30, DIM, 8);
  const before = index.search(q, 5);
  const other = new nk.Index({ metric: 'l2', dimension: DIM, numThreads: 1 });
  other.add(base);
  const after = other.search(q, 5);
  other.close();

  const searches = [];
  for (let i = 0; i < 20; i++) searches.push(index.searchAsync(q, 5));
  const add = index.addAsync(second);
  for (let i = 0; i < 20; i++) searches.push(index.searchAsync(q, 5));
  await add;
  const results = await Promise.all(searches);
  for (const r of results) {
    const same = (want) => r.ids.every((id, j) => id === want.ids[j]);
    assert.ok(same(before) || same(after), 'a search saw a state between before and after the add');
  }
  assert.equal(index.count, 5000);
  // A synchronous call issued while an asynchronous build runs waits for it instead of racing.
  const build = index.buildAsync();
  assert.equal(index.count, 5000);
  await build;
  index.close();
});

test('input arrays stay alive while an async call uses them', async () => {
  const index = makeIndex();
  const want = index.search(randomVectors(100, DIM, 77), 4);
  const pending = [];
  for (let i = 0; i < 20; i++) pending.push(index.searchAsync(randomVectors(100, DIM, 77), 4)); // no other reference
  if (global.gc) global.gc();
  for (const r of await Promise.all(pending)) assert.deepEqual(r.ids, want.ids);
  index.close();
});

test('an index dropped without close is freed by its finalizer, even with work in flight', () => {
  const script = `
    const nk = require(${JSON.stringify(path.join(__dirname, '..'))});
    const base = new Float32Array(4000 * 8).map((_, i) => Math.sin(i));
    const promises = [];
    for (let i = 0; i < 200; i++) {
      const index = new nk.Index({ metric: 'l2', dimension: 8, numThreads: 1 });
      index.add(base);
      if (i % 2) promises.push(index.searchAsync(base.subarray(0, 80), 3));
    }
    global.gc();
    Promise.all(promises).then((rs) => {
      global.gc();
      setImmediate(() => { global.gc(); console.log('ok', rs.length, rs[0].ids[0]); });
    });
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ok 100 0n\n$/);
});

test('the addon loads and works in worker threads', async () => {
  const code = `
    const { parentPort, workerData } = require('worker_threads');
    const nk = require(workerData.pkg);
    const index = new nk.Index({ metric: 'l2', dimension: 2 });
    index.add(new Float32Array([0, 0, 5, 5]));
    index.searchAsync(new Float32Array([4, 4]), 1).then((r) => {
      parentPort.postMessage(Number(r.ids[0]));
      // Left open: the worker's exit runs the finalizer.
    });
  `;
  const results = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: { pkg: path.join(__dirname, '..') } });
          w.once('message', resolve);
          w.once('error', reject);
        })
    )
  );
  assert.deepEqual(results, [1, 1, 1]);
});

test('terminating a worker while its searches run does not crash the process', async () => {
  const code = `
    const { parentPort, workerData } = require('worker_threads');
    const nk = require(workerData.pkg);
    const index = new nk.Index({ metric: 'l2', dimension: 32, numThreads: 1 });
    const v = new Float32Array(20000 * 32).map((_, i) => Math.cos(i));
    index.add(v);
    for (let i = 0; i < 8; i++) index.searchAsync(v.subarray(0, 32 * 500), 10);
    parentPort.postMessage('started');
  `;
  const w = new Worker(code, { eval: true, workerData: { pkg: path.join(__dirname, '..') } });
  await new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  // Still alive and working.
  const index = makeIndex();
  assert.equal(index.search(base.subarray(0, DIM), 1).ids[0], 0n);
  index.close();
});
