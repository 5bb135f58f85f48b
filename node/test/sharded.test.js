'use strict';
// ShardedIndex (nearkit_sharded_*) and mergeKnn (nearkit_merge_knn): shards searched as one
// collection, answers computed apart merged (issue 21).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const nk = require('..');
const { expectError, expectRejection, randomVectors, tmpDir } = require('./helpers');

const DIM = 8;
const N = 600;
const SHARDS = 3;

// N vectors in which rows 1, 2 (mod 50) repeat row 0's vector, so that equal distances cross
// shard boundaries and the tie order (smaller id first) is checked; ids are 1000 + row.
function dataset() {
  const data = randomVectors(N, DIM, 7);
  for (let r = 0; r < N; r++) {
    if (r % 50 === 1 || r % 50 === 2) data.copyWithin(r * DIM, (r - (r % 50)) * DIM, (r - (r % 50) + 1) * DIM);
  }
  const ids = BigInt64Array.from({ length: N }, (_, r) => 1000n + BigInt(r));
  return { data, ids };
}

function flatOver(data, ids, metric = 'l2', dimension = DIM) {
  const index = new nk.Index({ kind: 'flat', metric, dimension, numThreads: 1 });
  index.add(data, ids);
  return index;
}

// Row r goes to shard r % SHARDS: every shard holds some of each tie group.
function shardsOf(data, ids, width, metric = 'l2', dimension = DIM) {
  const out = [];
  for (let s = 0; s < SHARDS; s++) {
    const rows = [];
    for (let r = s; r < ids.length; r += SHARDS) rows.push(r);
    const part = new data.constructor(rows.length * width);
    rows.forEach((r, i) => part.set(data.subarray(r * width, (r + 1) * width), i * width));
    out.push(flatOver(part, BigInt64Array.from(rows, (r) => ids[r]), metric, dimension));
  }
  return out;
}

function assertSameResult(actual, expected) {
  assert.equal(actual.k, expected.k);
  assert.equal(actual.count, expected.count);
  assert.deepEqual(actual.ids, expected.ids);
  assert.deepEqual(actual.distances, expected.distances);
}

test('flat shards answer as one flat index over the union (ids, distances, ties)', async () => {
  const { data, ids } = dataset();
  const queries = data.slice(0, 40 * DIM); // stored vectors: their tie groups come back whole
  const single = flatOver(data, ids);
  const sharded = new nk.ShardedIndex(shardsOf(data, ids, DIM), { numThreads: 2 });
  assert.equal(sharded.shardCount, SHARDS);
  assert.equal(sharded.count, N);
  assert.equal(sharded.dimension, DIM);
  assert.equal(sharded.metric, 'l2');
  assert.equal(sharded.vectorType, 'float32');
  assert.ok(sharded.memoryBytes > 0);
  for (const k of [1, 5, 10, N + 3]) {
    const expected = single.search(queries, k);
    assertSameResult(sharded.search(queries, k), expected);
    assertSameResult(await sharded.searchAsync(queries, k), expected);
  }
  const allowed = BigInt64Array.from({ length: 100 }, (_, i) => 1000n + BigInt(i * 6));
  assertSameResult(sharded.search(queries, 7, { filter: allowed }), single.search(queries, 7, { filter: allowed }));
  assertSameResult(await sharded.searchAsync(queries, 7, { filter: allowed }), single.search(queries, 7, { filter: allowed }));
  // plain arrays of rows, as Index.search takes them
  const rows = [Array.from(data.subarray(0, DIM)), Array.from(data.subarray(DIM, 2 * DIM))];
  assertSameResult(sharded.search(rows, 4), single.search(data.subarray(0, 2 * DIM), 4));
});

test('binary shards answer as one hamming flat index (many equal distances)', () => {
  const bytes = 2;
  const data = new Uint8Array(300 * bytes);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 3)) & 255;
  const ids = BigInt64Array.from({ length: 300 }, (_, r) => BigInt(r));
  const single = flatOver(data, ids, 'hamming', 16);
  const sharded = new nk.ShardedIndex(shardsOf(data, ids, bytes, 'hamming', 16));
  assert.equal(sharded.vectorType, 'binary');
  const queries = data.slice(0, 20 * bytes);
  assertSameResult(sharded.search(queries, 12), single.search(queries, 12));
});

test('mergeKnn of per-shard answers equals the single index answer', () => {
  const { data, ids } = dataset();
  const queries = data.slice(0, 30 * DIM);
  const single = flatOver(data, ids);
  const shards = shardsOf(data, ids, DIM);
  // parts of different widths, one wider than k
  const parts = shards.map((shard, s) => shard.search(queries, 4 + s * 3));
  assertSameResult(nk.mergeKnn(parts, 6), single.search(queries, 6));
  // plain-array blocks of rows of k entries
  const plain = parts.map((p) => ({ ids: Array.from(p.ids, Number), distances: Array.from(p.distances), k: p.k }));
  assertSameResult(nk.mergeKnn(plain, 6), single.search(queries, 6));
  for (const shard of shards) shard.close();

  // unique: an id two parts found counts once, at its least distance
  const a = { ids: [7n, 8n], distances: [1, 2], k: 2 };
  const b = { ids: [7n, 9n], distances: [0.5, 3], k: 2 };
  assert.deepEqual(Array.from(nk.mergeKnn([a, b], 3).ids), [7n, 7n, 8n]);
  const merged = nk.mergeKnn([a, b], 4, { unique: true });
  assert.deepEqual(Array.from(merged.ids), [7n, 8n, 9n, -1n]);
  assert.deepEqual(Array.from(merged.distances), [0.5, 2, 3, Infinity]);
  assert.equal(merged.count, 1);
});

test('mergeKnn refuses bad input with clear errors', () => {
  const good = { ids: new BigInt64Array([1n, 2n, 3n, 4n]), distances: new Float32Array([1, 2, 3, 4]), k: 2 };
  expectError(() => nk.mergeKnn([good], 0), 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /k must be at least 1/);
  expectError(() => nk.mergeKnn([], 2), 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /at least one part/);
  expectError(() => nk.mergeKnn(good, 2), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => nk.mergeKnn([good, null], 2), 'ERR_INVALID_ARG_TYPE', TypeError, /parts\[1\]/);
  expectError(
    () => nk.mergeKnn([{ ...good, distances: new Float32Array([1, 2, 3]) }], 2),
    'ERR_NEARKIT_INVALID_ARGUMENT',
    Error,
    /4 ids and 3 distances/
  );
  expectError(() => nk.mergeKnn([{ ...good, k: 3 }], 2), 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /whole number of rows/);
  expectError(() => nk.mergeKnn([{ ...good, k: 0 }], 2), 'ERR_NEARKIT_INVALID_ARGUMENT', Error);
  expectError(() => nk.mergeKnn([good, { ...good, k: 4 }], 2), 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /answers 1 queries, parts\[0\] answers 2/);
  expectError(
    () => nk.mergeKnn([{ ...good, distances: new Float32Array([1, NaN, 3, 4]) }], 2),
    'ERR_NEARKIT_INVALID_ARGUMENT',
    Error,
    /NaN/i
  );
  expectError(() => nk.mergeKnn([{ ...good, ids: 'abc' }], 2), 'ERR_INVALID_ARG_TYPE', TypeError, /parts\[0\]\.ids/);
  expectError(() => nk.mergeKnn([{ ...good, distances: new Float64Array(4) }], 2), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => nk.mergeKnn([good], 2, { unique: 'yes' }), 'ERR_INVALID_ARG_TYPE', TypeError);
});

test('save and open round trip; every shard file is an ordinary index', async () => {
  const { data, ids } = dataset();
  const queries = data.slice(0, 25 * DIM);
  const dir = path.join(tmpDir(), 'collection');
  let expected;
  {
    const sharded = new nk.ShardedIndex(shardsOf(data, ids, DIM));
    expected = sharded.search(queries, 9);
    sharded.save(dir);
    sharded.close();
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['manifest.json', 'shard-00000.nkx', 'shard-00001.nkx', 'shard-00002.nkx']);
  const opened = nk.ShardedIndex.open(dir, { numThreads: 1 });
  assert.equal(opened.shardCount, SHARDS);
  assert.equal(opened.count, N);
  assert.equal(opened.dimension, DIM);
  assert.equal(opened.metric, 'l2');
  assertSameResult(opened.search(queries, 9), expected);
  assertSameResult(await opened.searchAsync(queries, 9), expected);
  // the same on the thread pool
  const dir2 = path.join(tmpDir(), 'collection-async');
  await opened.saveAsync(dir2);
  const reopened = await nk.ShardedIndex.openAsync(dir2, { numThreads: 1 });
  assert.equal(reopened.shardCount, SHARDS);
  assertSameResult(await reopened.searchAsync(queries, 9), expected);
  reopened.close();
  await expectRejection(() => nk.ShardedIndex.openAsync(path.join(dir, 'missing')), 'ERR_NEARKIT_IO');
  await expectRejection(() => nk.ShardedIndex.openAsync(dir, { threads: 1 }), 'ERR_NEARKIT_INVALID_ARGUMENT');
  const first = nk.Index.load(path.join(dir, 'shard-00000.nkx'));
  assert.equal(first.count, N / SHARDS);
  expectError(() => nk.ShardedIndex.open(path.join(dir, 'missing')), 'ERR_NEARKIT_IO');
  fs.writeFileSync(path.join(dir, 'manifest.json'), 'not a manifest');
  expectError(() => nk.ShardedIndex.open(dir), 'ERR_NEARKIT_CORRUPT');
});

test('open with {view: true} maps the shard files and answers as the loaded collection', async () => {
  const { data, ids } = dataset();
  const queries = data.slice(0, 25 * DIM);
  const dir = path.join(tmpDir(), 'collection-view');
  const saved = new nk.ShardedIndex(shardsOf(data, ids, DIM));
  saved.save(dir);
  saved.close();
  const loaded = nk.ShardedIndex.open(dir, { numThreads: 1 });
  const expected = loaded.search(queries, 9);
  const viewed = nk.ShardedIndex.open(dir, { numThreads: 1, view: true });
  const viewedAsync = await nk.ShardedIndex.openAsync(dir, { view: true });
  for (const opened of [viewed, viewedAsync]) {
    assert.equal(opened.shardCount, SHARDS);
    assert.equal(opened.count, N);
    assertSameResult(opened.search(queries, 9), expected);
    assertSameResult(await opened.searchAsync(queries, 9), expected);
    // the vectors stay in the mapped files: the views own a small part of the loaded heap
    assert.ok(opened.memoryBytes * 10 < loaded.memoryBytes, `${opened.memoryBytes} vs ${loaded.memoryBytes}`);
  }
  assertSameResult(nk.ShardedIndex.open(dir, { view: false }).search(queries, 9), expected);
  expectError(() => nk.ShardedIndex.open(dir, { view: 'yes' }), 'ERR_INVALID_ARG_TYPE', TypeError, /view/);
  await expectRejection(() => nk.ShardedIndex.openAsync(dir, { view: 1 }), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => new nk.ShardedIndex([], { view: true }), 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /view/);
  // the manifest is still checked against every viewed file
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  manifest.shards[1].count += 1;
  manifest.count += 1;
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  expectError(() => nk.ShardedIndex.open(dir, { view: true }), 'ERR_NEARKIT_CORRUPT', Error, /shard 1/);
  for (const c of [loaded, viewed, viewedAsync]) c.close();
});

test('a ShardedIndex refuses bad input with clear errors', async () => {
  const sharded = new nk.ShardedIndex();
  assert.equal(sharded.shardCount, 0);
  assert.equal(sharded.count, 0);
  assert.equal(sharded.dimension, 0);
  assert.equal(sharded.metric, null);
  expectError(() => sharded.search(new Float32Array(DIM), 1), 'ERR_NEARKIT_STATE', Error, /no shard/);
  await expectRejection(() => sharded.searchAsync([[1, 2]], 1), 'ERR_NEARKIT_STATE');
  expectError(() => sharded.save(tmpDir()), 'ERR_NEARKIT_INVALID_ARGUMENT');
  await expectRejection(() => sharded.saveAsync(tmpDir()), 'ERR_NEARKIT_INVALID_ARGUMENT');
  expectError(() => sharded.addShard({}), 'ERR_INVALID_ARG_TYPE', TypeError, /nearkit Index/);
  expectError(() => new nk.ShardedIndex([], { threads: 2 }), 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /threads/);

  const first = flatOver(randomVectors(10, DIM, 3), undefined);
  sharded.addShard(first);
  // a shard unlike the first is refused and stays the caller's
  const other = flatOver(randomVectors(10, DIM + 1, 4), undefined, 'l2', DIM + 1);
  expectError(() => sharded.addShard(other), 'ERR_NEARKIT_INVALID_ARGUMENT');
  assert.equal(other.closed, false);
  assert.equal(other.search(randomVectors(1, DIM + 1, 5), 2).count, 1);
  assert.equal(sharded.shardCount, 1);

  expectError(() => sharded.search(new Float32Array(DIM + 1), 1), 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /whole number of vectors/);
  expectError(() => sharded.search(new Float32Array(DIM), 0), 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /k must be at least 1/);
  expectError(() => sharded.search(new Float32Array(DIM).fill(NaN), 1), 'ERR_NEARKIT_INVALID_ARGUMENT');
  expectError(() => sharded.search(new Float64Array(DIM), 1), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => sharded.search(new Float32Array(DIM), 1, { filter: () => true }), 'ERR_INVALID_ARG_TYPE', TypeError, /not a function/);
  await expectRejection(() => sharded.searchAsync(new Float32Array(DIM), 1, { filter: () => true }), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => sharded.search(new Float32Array(DIM), 1, { noSuchParam: 3 }), 'ERR_NEARKIT_NOT_FOUND');

  // an index with an operation in flight cannot be handed over
  const busy = flatOver(randomVectors(10, DIM, 6), undefined);
  const pending = busy.searchAsync(randomVectors(1, DIM, 7), 1);
  expectError(() => sharded.addShard(busy), 'ERR_NEARKIT_STATE', Error, /in flight/);
  await pending;
  sharded.addShard(busy);
  assert.equal(sharded.shardCount, 2);
});

test('added indexes and closed collections refuse further use', async () => {
  const index = flatOver(randomVectors(20, DIM, 8), undefined);
  const sharded = new nk.ShardedIndex([index]);
  // the collection owns the index now: the Index is closed, not freed twice
  assert.equal(index.closed, true);
  expectError(() => index.search(randomVectors(1, DIM, 9), 1), 'ERR_NEARKIT_CLOSED');
  expectError(() => index.add(randomVectors(1, DIM, 9)), 'ERR_NEARKIT_CLOSED');
  expectError(() => sharded.addShard(index), 'ERR_NEARKIT_CLOSED');
  index.close(); // still idempotent
  assert.equal(sharded.count, 20);

  // a search in flight finishes after close()
  const inFlight = sharded.searchAsync(randomVectors(3, DIM, 10), 2);
  sharded.close();
  assert.equal((await inFlight).count, 3);
  assert.equal(sharded.closed, true);
  expectError(() => sharded.search(randomVectors(1, DIM, 9), 1), 'ERR_NEARKIT_CLOSED');
  await expectRejection(() => sharded.searchAsync(randomVectors(1, DIM, 9), 1), 'ERR_NEARKIT_CLOSED');
  expectError(() => sharded.count, 'ERR_NEARKIT_CLOSED');
  expectError(() => sharded.save(tmpDir()), 'ERR_NEARKIT_CLOSED');
  await expectRejection(() => sharded.saveAsync(tmpDir()), 'ERR_NEARKIT_CLOSED');
  expectError(() => sharded.addShard(flatOver(randomVectors(2, DIM, 1), undefined)), 'ERR_NEARKIT_CLOSED');
  sharded.close();
  sharded[Symbol.dispose]();
  expectError(() => nk.ShardedIndex.prototype.close.call({}), 'ERR_INVALID_ARG_TYPE', TypeError);

  // a refused shard in the constructor closes the collection; the refused index stays open
  const good = flatOver(randomVectors(5, DIM, 2), undefined);
  const bad = flatOver(randomVectors(5, DIM + 2, 2), undefined, 'l2', DIM + 2);
  expectError(() => new nk.ShardedIndex([good, bad]), 'ERR_NEARKIT_INVALID_ARGUMENT');
  assert.equal(good.closed, true);
  assert.equal(bad.closed, false);
  bad.close();
});
