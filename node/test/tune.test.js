'use strict';
// Index.tune / tuneAsync (issue 16, part 4): the cheapest runtime setting reaching a recall@k
// target on a sample, set on the index; exact kinds have nothing to tune; bad input.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const nk = require('..');

const DIM = 24;
const N = 6000;
const NQ = 200;

// Points around 30 centres, overlapping so that a query's neighbours spread over lists.
function clustered(n, seed, clusters = 30, spread = 12) {
  let state = seed >>> 0;
  const rand = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const centres = Float32Array.from({ length: clusters * DIM }, () => rand() * 20 - 10);
  const x = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * clusters);
    for (let j = 0; j < DIM; j++) x[i * DIM + j] = centres[c * DIM + j] + (rand() - 0.5) * 2 * spread;
  }
  return x;
}

const x = clustered(N + 2 * NQ, 11);
const base = x.subarray(0, N * DIM);
const sample = x.slice(N * DIM, (N + NQ) * DIM);
const heldOut = x.slice((N + NQ) * DIM);

function recall(index, flat, queries, k) {
  const got = index.search(queries, k);
  const want = flat.search(queries, k);
  let hits = 0;
  for (let q = 0; q < got.count; q++) {
    const truth = new Set(want.ids.subarray(q * k, (q + 1) * k));
    for (const id of got.ids.subarray(q * k, (q + 1) * k)) hits += truth.has(id) ? 1 : 0;
  }
  return hits / (got.count * k);
}

for (const [kind, param, params] of [
  ['ivf_flat', 'nprobe', { nlist: 80 }],
  ['hnsw', 'ef_search', { efConstruction: 40 }],
]) {
  test(`${kind}: tune reaches the target, sync and async`, { skip: !nk.kinds().some((k) => k.name === kind) }, async () => {
    const index = new nk.Index({ kind, metric: 'l2', dimension: DIM, numThreads: 1, params });
    const flat = new nk.Index({ kind: 'flat', metric: 'l2', dimension: DIM });
    index.add(base);
    index.build();
    flat.add(base);
    const r = index.tune(sample, 10, 0.95);
    assert.equal(r.param, param);
    assert.ok(r.reached && r.recall >= 0.95 && r.qps > 0 && r.measurements >= 1, JSON.stringify(r));
    assert.equal(index.getParam(param), r.value);
    if (r.fineParam === null) assert.equal(r.fineValue, 0);
    else assert.equal(index.getParam(r.fineParam), r.fineValue);
    assert.ok(Math.abs(recall(index, flat, heldOut, 10) - r.recall) < 0.03);
    const again = await index.tuneAsync(sample, 10, 0.95);
    assert.equal(again.value, r.value);
    index.close();
    flat.close();
  });
}

test('a few large lists: the tuner cuts the last one short with max_codes', () => {
  const y = clustered(6300, 23, 12, 9);
  const index = new nk.Index({ kind: 'ivf_flat', metric: 'l2', dimension: DIM, numThreads: 1, params: { nlist: 12 } });
  index.add(y.subarray(0, 6000 * DIM));
  index.build();
  const budget = index.paramInfo().find((p) => p.nativeName === 'max_codes');
  assert.ok(budget.recallFine && !budget.recall && budget.integer && budget.default === 0);
  const ySample = y.slice(6000 * DIM);
  let chosen = 0;
  for (const target of [0.6, 0.8, 0.9]) {
    const r = index.tune(ySample, 10, target);
    assert.ok(r.reached && r.recall >= target, JSON.stringify(r));
    assert.equal(index.getParam('max_codes'), r.fineValue);
    if (r.fineParam !== null) {
      assert.equal(r.fineParam, 'max_codes');
      assert.ok(Number.isInteger(r.fineValue) && r.fineValue >= 1);
      chosen++;
    }
  }
  assert.ok(chosen >= 1);
  index.close();
});

test('exact kinds have nothing to tune', () => {
  const index = new nk.Index({ kind: 'flat', metric: 'l2', dimension: DIM });
  index.add(base.subarray(0, 100 * DIM));
  const r = index.tune(sample);
  assert.deepEqual(r, {
    param: null, value: 0, recall: 1, qps: 0, reached: true, measurements: 0, fineParam: null, fineValue: 0,
  });
  index.close();
});

test('bad input', async () => {
  const index = new nk.Index({ kind: 'ivf_flat', metric: 'l2', dimension: DIM, params: { nlist: 8 } });
  const code = (c) => (e) => e.code === c;
  assert.throws(() => index.tune(sample), code('ERR_NEARKIT_STATE')); // empty
  index.add(base.subarray(0, 500 * DIM));
  await assert.rejects(index.tuneAsync(sample), code('ERR_NEARKIT_STATE')); // not trained
  index.build();
  for (const target of [0, 1.5, NaN]) assert.throws(() => index.tune(sample, 10, target), code('ERR_NEARKIT_INVALID_ARGUMENT'));
  assert.throws(() => index.tune(sample, 0, 0.9), code('ERR_NEARKIT_INVALID_ARGUMENT'));
  assert.throws(() => index.tune(sample, 10, '0.9'), TypeError);
  assert.throws(() => index.tune(sample, 10, 0.9, { maxValu: 3 }), code('ERR_NEARKIT_INVALID_ARGUMENT'));
  const r = index.tune(sample, 10, 1, { maxValue: 2 });
  assert.equal(r.reached, false);
  assert.equal(r.value, 2);
  index.close();
  assert.throws(() => index.tune(sample), code('ERR_NEARKIT_CLOSED'));
});
