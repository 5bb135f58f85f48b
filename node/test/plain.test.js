'use strict';
// Plain JavaScript values: vectors and queries as number[] (flat or one array per vector), result
// ids as numbers (idsAsNumbers), results through JSON.stringify, and `using` (Symbol.dispose).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const nk = require('..');
const { expectError, expectRejection, randomVectors } = require('./helpers');

const DIM = 8;

function rowsOf(flat, width) {
  const rows = [];
  for (let i = 0; i < flat.length; i += width) rows.push(Array.from(flat.subarray(i, i + width)));
  return rows;
}

test('number[] and arrays of rows give what the Float32Array gives, everywhere vectors go', async () => {
  const base = randomVectors(200, DIM, 3);
  const queries = randomVectors(5, DIM, 4);
  const typed = new nk.Index({ kind: 'ivf_flat', dimension: DIM, numThreads: 1, params: { nlist: 4 } });
  typed.train(base);
  typed.add(base);
  const forms = [Array.from(base), rowsOf(base, DIM), rowsOf(base, DIM).map((r) => new Float32Array(r))];
  for (const [i, form] of forms.entries()) {
    const index = new nk.Index({ kind: 'ivf_flat', dimension: DIM, numThreads: 1, params: { nlist: 4 } });
    if (i === 0) index.train(form);
    else await index.trainAsync(form);
    if (i === 1) await index.addAsync(form);
    else index.add(form);
    assert.equal(index.count, 200);
    for (const q of [Array.from(queries), rowsOf(queries, DIM)]) {
      const opts = { nprobe: 2, filter: [1, 2, 3, 50, 51, 199] };
      assert.deepEqual(index.search(q, 4, opts), typed.search(queries, 4, opts));
      assert.deepEqual(await index.searchAsync(q, 4, opts), typed.search(queries, 4, opts));
      assert.deepEqual(index.rangeSearch(q, 1.2), typed.rangeSearch(queries, 1.2));
      assert.deepEqual(await index.rangeSearchAsync(q, 1.2), typed.rangeSearch(queries, 1.2));
    }
    assert.equal(index.tune(rowsOf(queries, DIM), 2, 0.5).param, 'nprobe');
    assert.deepEqual(index.get([0, 199]), typed.get([0, 199]));
    index.close();
  }
  // a single query as a flat number[] of one vector
  assert.deepEqual(typed.search(Array.from(queries.subarray(0, DIM)), 3), typed.search(queries.subarray(0, DIM), 3));
  typed.close();
});

test('binary indexes take bytes of packed bits as number[] or rows', () => {
  const bytes = new Uint8Array([1, 2, 3, 4, 255, 0, 7, 8, 16, 32, 64, 128]);
  const typed = new nk.Index({ metric: 'hamming', dimension: 32 });
  typed.add(bytes);
  const plain = new nk.Index({ metric: 'hamming', dimension: 32 });
  plain.add(rowsOf(bytes, 4));
  assert.deepEqual(plain.search(Array.from(bytes.subarray(0, 4)), 3), typed.search(bytes.subarray(0, 4), 3));
  assert.deepEqual(plain.search(rowsOf(bytes, 4), 2), typed.search(bytes, 2));
  expectError(() => plain.add([1, 2, 3, 256]), 'ERR_OUT_OF_RANGE', RangeError, /vectors\[3\] must be a byte.*256/);
  expectError(() => plain.add([[1, 2, 3, -1]]), 'ERR_OUT_OF_RANGE', RangeError, /vectors\[0\]\[3\]/);
  expectError(() => plain.search([1.5, 2, 3, 4], 1), 'ERR_OUT_OF_RANGE', RangeError, /queries\[0\]/);
  expectError(() => plain.add([[1, 2, 3]]), 'ERR_OUT_OF_RANGE', RangeError, /vectors\[0\] has 3 values.*4/);
  expectError(() => plain.add([1, 2, 3]), 'ERR_NEARKIT_INVALID_ARGUMENT', Error);
  assert.equal(plain.count, 3, 'failed adds add nothing');
  plain.close();
  typed.close();
});

test('bad plain arrays are TypeErrors and RangeErrors naming the position; NaN is refused by the library', async () => {
  const index = new nk.Index({ dimension: 2 });
  index.add([[0, 0], [1, 1]]);
  const cases = [
    [[0, '1'], 'ERR_INVALID_ARG_TYPE', TypeError, /queries\[1\] must be a number, got a string/],
    [[0, 1n], 'ERR_INVALID_ARG_TYPE', TypeError, /queries\[1\] must be a number, got a bigint/],
    [[0, null], 'ERR_INVALID_ARG_TYPE', TypeError, /queries\[1\].*null/],
    [[0, undefined], 'ERR_INVALID_ARG_TYPE', TypeError, /queries\[1\].*undefined/],
    [[[0, 1], [2, {}]], 'ERR_INVALID_ARG_TYPE', TypeError, /queries\[1\]\[1\].*an object/],
    [[[0, 1], 2], 'ERR_INVALID_ARG_TYPE', TypeError, /queries\[1\] must be an array/],
    [[0, [1, 2]], 'ERR_INVALID_ARG_TYPE', TypeError, /queries\[1\].*an array/],
    [[[0, 1], [2]], 'ERR_OUT_OF_RANGE', RangeError, /queries\[1\] has 1 values; a vector of this index has 2/],
    [[[0, 1, 2]], 'ERR_OUT_OF_RANGE', RangeError, /has 3 values/],
    [[[0, 1], new BigInt64Array(2)], 'ERR_INVALID_ARG_TYPE', TypeError, /queries\[1\]\[0\].*bigint/],
    [[0, 1, 2], 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /3 elements/],
    [[0, NaN], 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /NaN/],
    [[[Infinity, 0]], 'ERR_NEARKIT_INVALID_ARGUMENT', Error],
    [[1e39, 0], 'ERR_NEARKIT_INVALID_ARGUMENT', Error], // beyond float32: infinity
  ];
  for (const [bad, code, Ctor, pattern] of cases) {
    expectError(() => index.search(bad, 1), code, Ctor, pattern);
    await expectRejection(() => index.searchAsync(bad, 1), code, Ctor, pattern);
    expectError(() => index.rangeSearch(bad, 1), code, Ctor);
    const vectorsPattern = pattern && new RegExp(pattern.source.replace('queries', 'vectors'));
    expectError(() => index.add(bad), code, Ctor, vectorsPattern);
    await expectRejection(() => index.addAsync(bad), code, Ctor, vectorsPattern);
  }
  assert.equal(index.count, 2, 'no failed add added anything');
  // an empty array is an empty batch, as an empty Float32Array is
  assert.equal(index.search([], 1).count, 0);
  index.close();
  expectError(() => index.search([0, 0], 1), 'ERR_NEARKIT_CLOSED', Error);
});

test('idsAsNumbers gives the ids as a Float64Array, or a RangeError beyond 2^53 - 1', async () => {
  const index = new nk.Index({ dimension: 2 });
  const limit = BigInt(Number.MAX_SAFE_INTEGER);
  index.add([[0, 0], [1, 0], [2, 0], [3, 0]], [5n, limit, -limit, 7n]);
  const r = index.search([[0, 0], [3, 0]], 6);
  const numbers = r.idsAsNumbers();
  assert.ok(numbers instanceof Float64Array);
  assert.deepEqual(Array.from(numbers), [5, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 7, -1, -1, 7, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 5, -1, -1]);
  assert.deepEqual(Array.from((await index.searchAsync([0, 0], 1)).idsAsNumbers()), [5]);
  const range = index.rangeSearch([[0, 0], [3, 0]], 1.5);
  assert.deepEqual(Array.from(range.idsAsNumbers()), Array.from(range.ids, Number));
  assert.deepEqual(Array.from((await index.rangeSearchAsync([0, 0], 0.5)).idsAsNumbers()), [5]);

  index.add([[0, 0.5], [0, 0.25]], [limit + 1n, -(2n ** 63n)]);
  const big = index.search([0, 0.5], 2);
  expectError(() => big.idsAsNumbers(), 'ERR_OUT_OF_RANGE', RangeError, /id 9007199254740992 \(ids\[0\]\).*2\^53/);
  expectError(() => index.rangeSearch([0, 0.25], 0.01).idsAsNumbers(), 'ERR_OUT_OF_RANGE', RangeError, /-9223372036854775808/);
  index.close();
});

test('results serialise to JSON: numbers when every id is safe, else all strings; Infinity as null', async () => {
  const index = new nk.Index({ dimension: 2 });
  index.add([[0, 0], [1, 0]], [10, 11]);
  const r = index.search([[0, 0], [1, 0]], 3);
  assert.deepEqual(Object.keys(r), ['ids', 'distances', 'k', 'count'], 'the fields are as before');
  const { ids, distances, k, count } = r;
  assert.equal(ids, r.ids);
  assert.equal(k, 3);
  assert.equal(count, 2);
  assert.equal(distances[2], Infinity);
  assert.deepEqual(JSON.parse(JSON.stringify(r)), { ids: [10, 11, -1, 11, 10, -1], distances: [0, 1, null, 0, 1, null], k: 3, count: 2 });
  assert.deepEqual(JSON.parse(JSON.stringify(await index.searchAsync([0, 0], 1))), { ids: [10], distances: [0], k: 1, count: 1 });
  const range = index.rangeSearch([[0, 0], [5, 5]], 2);
  assert.deepEqual(JSON.parse(JSON.stringify(range)), { offsets: [0, 2, 2], ids: [10, 11], distances: [0, 1], count: 2 });

  const huge = 2n ** 62n + 1n;
  index.add([0.5, 0], [huge]);
  const mixed = JSON.parse(JSON.stringify(index.search([0, 0], 3)));
  assert.deepEqual(mixed.ids, ['10', huge.toString(), '11'], 'all strings, exact');
  assert.deepEqual(mixed.ids.map(BigInt), Array.from(index.search([0, 0], 3).ids));
  assert.deepEqual(JSON.parse(JSON.stringify(index.rangeSearch([0, 0], 0.6))).ids, ['10', huge.toString()]);
  index.close();
});

test('Symbol.dispose is close(): idempotent, and after close() too', { skip: typeof Symbol.dispose !== 'symbol' }, () => {
  const index = new nk.Index({ dimension: 2 });
  assert.equal(typeof index[Symbol.dispose], 'function');
  index.close();
  index[Symbol.dispose]();
  index[Symbol.dispose]();
  assert.equal(index.closed, true);
  expectError(() => nk.Index.prototype[Symbol.dispose].call({}), 'ERR_INVALID_ARG_TYPE', TypeError, /not a nearkit Index/);
});
