'use strict';
// Living collections (issue 15): remove / get / contains / compact, filtered search in each of its
// forms against the flat index of the allowed rows (the exact truth), per-call parameters, the
// asynchronous variants, searches running while writers add and remove (checked against a serial
// replay), and bad input. Kinds whose remove the library does not support yet are skipped.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const nk = require('..');
const { expectError, expectRejection, randomVectors } = require('./helpers');

const DIM = 8;
const N = 2000;
const base = randomVectors(N, DIM, 71);
const queries = randomVectors(12, DIM, 72);

function row(data, i, dim = DIM) {
  return data.subarray(i * dim, (i + 1) * dim);
}

// The rows of `data` at positions `keep`, and their ids.
function subset(data, keep, dim = DIM) {
  const out = new data.constructor(keep.length * dim);
  keep.forEach((r, j) => out.set(row(data, r, dim), j * dim));
  return out;
}

// A flat index holding only the rows `keep` of base under their own ids: the exact truth of a
// filtered (or removed-from) flat search.
function flatOf(keep, metric = 'l2') {
  const index = new nk.Index({ kind: 'flat', metric, dimension: DIM, numThreads: 1 });
  index.add(subset(base, keep), BigInt64Array.from(keep, BigInt));
  return index;
}

function positions(share, seed) {
  const keep = [];
  let s = seed >>> 0 || 1;
  for (let i = 0; i < N; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    if (s / 4294967296 < share) keep.push(i);
  }
  return keep;
}

function bitmapOf(keep) {
  const bits = new Uint8Array(Math.ceil(N / 8));
  for (const id of keep) bits[id >> 3] |= 1 << (id & 7);
  return bits;
}

// The kinds to exercise and how to make each (float kinds on l2, binary ones on hamming).
function hasParam(kind, metric, dimension, name) {
  const probe = new nk.Index({ kind, metric, dimension });
  try {
    return name in probe.params();
  } finally {
    probe.close();
  }
}

function makeKind(kind) {
  const binary = kind.metrics.includes('hamming') && !kind.metrics.includes('l2');
  const metric = binary ? 'hamming' : 'l2';
  const dimension = binary ? 64 : DIM;
  let params = kind.name.startsWith('ivf') ? { nlist: 8, nprobe: 8 } : undefined;
  // compressed codes (ivf_* and hnsw_* codec kinds) read back decoded; with their originals kept
  // (refine) they read back exactly
  if (hasParam(kind.name, metric, dimension, 'refine')) params = { ...(params || {}), refine: 1 };
  const index = new nk.Index({ kind: kind.name, metric, dimension, numThreads: 1, seed: 3, params });
  const data = binary ? Uint8Array.from(randomVectors(400 * 8, 1, 5), (x) => Math.floor((x + 0.5) * 256)) : base.subarray(0, 400 * DIM);
  return { index, data, width: binary ? 8 : DIM };
}

function supportsRemove(index) {
  try {
    assert.equal(index.remove([-12345]), 0); // an id not stored
    return true;
  } catch (e) {
    if (e.code === 'ERR_NEARKIT_UNSUPPORTED') return false;
    throw e;
  }
}

test('remove, get, contains and compact in every kind that supports them', () => {
  for (const kind of nk.kinds()) {
    const { index, data, width } = makeKind(kind);
    index.add(data);
    index.build();
    if (!supportsRemove(index)) {
      index.close();
      continue; // the kind returns UNSUPPORTED until it is a living collection
    }
    const label = kind.name;
    assert.equal(index.count, 400, label);
    // duplicates and absent ids are ignored; each vector goes once
    assert.equal(index.remove([3, 3n, 7, 1000, -5]), 2, label);
    assert.equal(index.remove(new BigInt64Array([3n])), 0, label);
    assert.equal(index.count, 398, label);
    assert.equal(index.contains(3), false, label);
    assert.equal(index.contains(4n), true, label);
    const got = index.get([4, 3, 399]);
    assert.deepEqual(Array.from(got.found), [1, 0, 1], label);
    assert.equal(got.vectors.constructor, data.constructor, label);
    assert.deepEqual(got.vectors.subarray(0, width), row(data, 4, width), label);
    assert.ok(got.vectors.subarray(width, 2 * width).every((x) => x === 0), `${label}: a missing id reads as zeros`);
    assert.deepEqual(got.vectors.subarray(2 * width), row(data, 399, width), label);
    assert.deepEqual(JSON.parse(JSON.stringify(got)), { vectors: Array.from(got.vectors), found: [true, false, true] }, label);
    // remove then add the same id again
    index.add(row(data, 3, width), [3]);
    assert.equal(index.contains(3), true, label);
    assert.equal(index.count, 399, label);
    index.compact();
    assert.equal(index.count, 399, label);
    // removing everything
    assert.equal(index.remove(BigInt64Array.from({ length: 400 }, (_, i) => BigInt(i))), 399, label);
    assert.equal(index.count, 0, label);
    const r = index.search(row(data, 0, width), 3);
    assert.deepEqual(Array.from(r.ids), [-1n, -1n, -1n], `${label}: an emptied index pads`);
    index.close();
  }
});

test('flat: after removals results equal a fresh index of the rest, also after save and load', () => {
  const index = flatOf(Array.from({ length: N }, (_, i) => i));
  const removed = positions(0.3, 5);
  assert.equal(index.remove(removed), removed.length);
  const gone = new Set(removed);
  const rest = Array.from({ length: N }, (_, i) => i).filter((i) => !gone.has(i));
  const fresh = flatOf(rest);
  const want = fresh.search(queries, 10);
  assert.deepEqual(index.search(queries, 10), want);
  assert.deepEqual(index.rangeSearch(queries, 0.5), fresh.rangeSearch(queries, 0.5));
  const loaded = nk.Index.fromBuffer(index.toBuffer());
  assert.equal(loaded.count, rest.length);
  assert.deepEqual(loaded.search(queries, 10), want);
  index.compact();
  assert.deepEqual(index.search(queries, 10), want);
  for (const ix of [index, fresh, loaded]) ix.close();
});

test('each filter form gives the flat truth of the allowed rows at 50, 10, 1, 0.1 and 0 %', async () => {
  const index = flatOf(Array.from({ length: N }, (_, i) => i));
  for (const share of [0.5, 0.1, 0.01, 0.001, 0]) {
    const keep = positions(share, 11 + share * 1000);
    const truth = flatOf(keep);
    const want = truth.search(queries, 10);
    const wantRange = truth.rangeSearch(queries, 0.6);
    const allowed = new Set(keep.map(BigInt));
    const forms = {
      'BigInt64Array': BigInt64Array.from(keep, BigInt),
      'number[]': keep.slice(),
      'bigint[] with repeats and unknown ids': [...keep.map(BigInt), ...keep.slice(0, 3).map(BigInt), 99999n, -7n],
      'Uint8Array bitmap': bitmapOf(keep),
      'function': (id) => allowed.has(id),
    };
    for (const [name, filter] of Object.entries(forms)) {
      const label = `${name} at ${share * 100}%`;
      assert.deepEqual(index.search(queries, 10, { filter }), want, label);
      assert.deepEqual(await index.searchAsync(queries, 10, { filter, numThreads: 2 }), want, `${label} async`);
      assert.deepEqual(index.rangeSearch(queries, 0.6, { filter }), wantRange, `${label} range`);
      assert.deepEqual(await index.rangeSearchAsync(queries, 0.6, { filter }), wantRange, `${label} range async`);
    }
    truth.close();
  }
  index.close();
});

test('a bitmap shorter than the ids allows nothing past its end; an empty filter allows nothing', () => {
  const index = flatOf(Array.from({ length: N }, (_, i) => i));
  const r = index.search(queries, 5, { filter: new Uint8Array([0xff]) });
  for (const id of r.ids) assert.ok(id >= 0n && id < 8n, String(id));
  const none = index.search(queries, 5, { filter: [] });
  assert.ok(none.ids.every((id) => id === -1n));
  assert.ok(none.distances.every((d) => d === Infinity));
  index.close();
});

test('per-call nprobe: each call its own, concurrent calls with different values, the index unchanged', async () => {
  const index = new nk.Index({ kind: 'ivf_flat', metric: 'l2', dimension: DIM, numThreads: 1, seed: 4, params: { nlist: 16, nprobe: 1 } });
  index.add(base);
  index.build();
  const want = {};
  for (const nprobe of [1, 4, 16]) {
    index.setParam('nprobe', nprobe);
    want[nprobe] = index.search(queries, 10);
  }
  index.setParam('nprobe', 1);
  assert.notDeepEqual(want[1].ids, want[16].ids, 'nprobe changes the results of this data');
  for (const nprobe of [1, 4, 16]) {
    assert.deepEqual(index.search(queries, 10, { nprobe }), want[nprobe], `nprobe ${nprobe}`);
    assert.deepEqual(index.search(queries, 10, { params: { nprobe } }), want[nprobe], `params.nprobe ${nprobe}`);
  }
  const calls = [];
  for (let i = 0; i < 24; i++) {
    const nprobe = [1, 4, 16][i % 3];
    calls.push(index.searchAsync(queries, 10, { nprobe }).then((r) => assert.deepEqual(r, want[nprobe], `async nprobe ${nprobe}`)));
  }
  await Promise.all(calls);
  assert.equal(index.getParam('nprobe'), 1, 'per-call values leave the index alone');
  // nprobe = nlist with a filter: exactly the filtered flat truth
  const keep = positions(0.05, 9);
  const truth = flatOf(keep);
  assert.deepEqual(index.search(queries, 10, { nprobe: 16, filter: keep }), truth.search(queries, 10));
  truth.close();
  index.close();
});

test('async remove, get and compact resolve and take effect', async () => {
  const index = flatOf(Array.from({ length: N }, (_, i) => i));
  const ids = [10, 11, 12, 10];
  const got = await index.getAsync(ids);
  assert.deepEqual(Array.from(got.found), [1, 1, 1, 1]);
  assert.deepEqual(got.vectors.subarray(0, DIM), row(base, 10));
  assert.equal(await index.removeAsync(ids), 3);
  assert.equal(index.count, N - 3);
  const after = await index.getAsync(new BigInt64Array([10n, 13n]));
  assert.deepEqual(Array.from(after.found), [0, 1]);
  assert.equal(await index.compactAsync(), undefined);
  const empty = await index.getAsync([]);
  assert.equal(empty.vectors.length, 0);
  assert.equal(empty.found.length, 0);
  index.close();
});

test('async inputs are copied: the ids and the filter may be changed at once', async () => {
  const index = flatOf(Array.from({ length: N }, (_, i) => i));
  const keep = positions(0.1, 21);
  const want = flatOf(keep).search(queries, 10);
  const filter = BigInt64Array.from(keep, BigInt);
  const bitmap = bitmapOf(keep);
  const a = index.searchAsync(queries, 10, { filter });
  const b = index.searchAsync(queries, 10, { filter: bitmap });
  filter.fill(0n);
  bitmap.fill(0);
  assert.deepEqual(await a, want);
  assert.deepEqual(await b, want);
  const ids = new BigInt64Array([1n, 2n]);
  const removing = index.removeAsync(ids);
  ids.fill(5n);
  assert.equal(await removing, 2);
  assert.equal(index.contains(1), false);
  assert.equal(index.contains(5), true);
  index.close();
});

test('searches running while writers add and remove see each batch whole (serial replay)', async () => {
  const start = Array.from({ length: 1000 }, (_, i) => i);
  const index = flatOf(start);
  // The writes, in order: remove a batch, add a batch (new ids), remove part of what was added...
  const writes = [];
  for (let j = 0; j < 8; j++) {
    if (j % 2 === 0) writes.push({ remove: Array.from({ length: 60 }, (_, i) => j * 100 + i) });
    else writes.push({ add: Array.from({ length: 60 }, (_, i) => 1000 + j * 60 + i) });
  }
  const keepFilter = positions(0.5, 33).map(BigInt);
  // Writers chain on one promise so their order is fixed; searches keep starting, a few per turn
  // of the event loop, until the last write is done.
  const chain = writes.reduce(
    (prev, w) => prev.then(() => (w.remove ? index.removeAsync(w.remove) : index.addAsync(subset(base, w.add), w.add))),
    Promise.resolve()
  );
  let writing = true;
  chain.finally(() => (writing = false)).catch(() => {});
  const searches = [];
  while (writing && searches.length < 2000) {
    searches.push(index.searchAsync(queries, 5));
    searches.push(index.searchAsync(queries, 5, { filter: keepFilter }));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await chain;
  const results = await Promise.all(searches);
  // The serial replay: the results of every state the collection went through.
  let rows = new Set(start);
  const states = [];
  const stateResults = (set) => {
    const truth = flatOf([...set].sort((a, b) => a - b));
    const allowed = new Set(keepFilter.map(Number));
    const filtered = flatOf([...set].filter((i) => allowed.has(i)).sort((a, b) => a - b));
    const r = [truth.search(queries, 5), filtered.search(queries, 5)];
    truth.close();
    filtered.close();
    return r;
  };
  states.push(stateResults(rows));
  for (const w of writes) {
    rows = new Set(rows);
    if (w.remove) w.remove.forEach((i) => rows.delete(i));
    else w.add.forEach((i) => rows.add(i));
    states.push(stateResults(rows));
  }
  results.forEach((r, i) => {
    const which = i % 2;
    assert.ok(
      states.some((s) => {
        try {
          assert.deepEqual(r, s[which]);
          return true;
        } catch (_) {
          return false;
        }
      }),
      `search ${i} matches no state of the serial replay`
    );
  });
  assert.deepEqual(index.search(queries, 5), states[states.length - 1][0]);
  assert.ok(searches.length >= 2, 'searches ran alongside the writes');
  index.close();
});

test('function filters: their exceptions become the search error; the slow path is guarded', async () => {
  const index = flatOf(Array.from({ length: 200 }, (_, i) => i));
  const q = row(base, 0);
  const boom = new Error('boom');
  assert.throws(() => index.search(q, 3, { filter: () => { throw boom; } }), (e) => e === boom);
  await assert.rejects(index.searchAsync(q, 3, { filter: () => { throw boom; } }), (e) => e === boom);
  assert.throws(() => index.rangeSearch(q, 1, { filter: () => { throw boom; } }), (e) => e === boom);
  // truthy / falsy values are accepted as booleans
  assert.deepEqual(Array.from(index.search(q, 2, { filter: (id) => (id === 5n ? 1 : 0) }).ids), [5n, -1n]);
  // calling into the same index from the filter would deadlock: ERR_NEARKIT_STATE instead
  let inner;
  const r = index.search(q, 3, {
    filter: (id) => {
      try {
        index.count; // eslint-disable-line no-unused-expressions
      } catch (e) {
        inner = e;
      }
      return true;
    },
  });
  assert.equal(inner && inner.code, 'ERR_NEARKIT_STATE');
  assert.equal(r.ids[0], 0n);
  // while an asynchronous function-filter search runs, synchronous calls on the index throw
  const running = index.searchAsync(q, 3, { filter: (id) => id % 2n === 0n });
  expectError(() => index.search(q, 1), 'ERR_NEARKIT_STATE');
  expectError(() => index.remove([1]), 'ERR_NEARKIT_STATE');
  const evens = flatOf(Array.from({ length: 100 }, (_, i) => 2 * i));
  assert.deepEqual(await running, evens.search(q, 3));
  evens.close();
  // ...and work again once it is done; other indexes are never affected
  assert.equal(index.count, 200);
  index.close();
});

test('bad input: TypeError, RangeError or a coded Error, as elsewhere in the package', async () => {
  const index = flatOf(Array.from({ length: 50 }, (_, i) => i));
  const q = row(base, 0);
  expectError(() => index.remove(), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => index.remove('1,2'), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => index.remove([1.5]), 'ERR_NEARKIT_INVALID_ARGUMENT');
  expectError(() => index.get(null), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => index.get([2 ** 60]), 'ERR_NEARKIT_INVALID_ARGUMENT');
  expectError(() => index.contains('1'), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => index.contains(0.5), 'ERR_NEARKIT_INVALID_ARGUMENT');
  expectError(() => index.contains(2n ** 63n), 'ERR_NEARKIT_INVALID_ARGUMENT');
  expectError(() => index.search(q, 1, { filter: 'odd' }), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => index.search(q, 1, { filter: new Int32Array([1]) }), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => index.search(q, 1, { filter: [1, 'x'] }), 'ERR_NEARKIT_INVALID_ARGUMENT');
  expectError(() => index.search(q, 1, 5), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => index.search(q, 1, { params: 3 }), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => index.search(q, 1, { nprobe: 'x' }), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => index.search(q, 1, { nprobe: NaN }), 'ERR_NEARKIT_INVALID_ARGUMENT');
  expectError(() => index.search(q, 1, { nprobe: 1, params: { nprobe: 2 } }), 'ERR_NEARKIT_INVALID_ARGUMENT');
  expectError(() => index.search(q, 1, { noSuchParameter: 1 }), 'ERR_NEARKIT_NOT_FOUND');
  await expectRejection(() => index.searchAsync(q, 1, { filter: {} }), 'ERR_INVALID_ARG_TYPE', TypeError);
  await expectRejection(() => index.removeAsync('x'), 'ERR_INVALID_ARG_TYPE', TypeError);
  await expectRejection(() => index.getAsync([0.5]), 'ERR_NEARKIT_INVALID_ARGUMENT');
  await expectRejection(() => index.rangeSearchAsync(q, 1, { noSuchParameter: 1 }), 'ERR_NEARKIT_NOT_FOUND');
  const ivf = new nk.Index({ kind: 'ivf_flat', dimension: DIM, params: { nlist: 4 } });
  ivf.add(base.subarray(0, 100 * DIM));
  ivf.build();
  expectError(() => ivf.search(q, 1, { nlist: 2 }), 'ERR_NEARKIT_INVALID_ARGUMENT');
  expectError(() => ivf.search(q, 1, { nprobe: 0 }), 'ERR_NEARKIT_INVALID_ARGUMENT');
  ivf.close();
  index.close();
  expectError(() => index.remove([1]), 'ERR_NEARKIT_CLOSED');
  expectError(() => index.contains(1), 'ERR_NEARKIT_CLOSED');
  await expectRejection(() => index.getAsync([1]), 'ERR_NEARKIT_CLOSED');
  await expectRejection(() => index.compactAsync(), 'ERR_NEARKIT_CLOSED');
});
