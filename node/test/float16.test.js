'use strict';
// float16 input: a Uint16Array of IEEE half bits (or a Float16Array where the runtime has one)
// reaches the library as it is and answers as the same values given as float32.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const nk = require('..');

// The half bits of f, for zero and values a normal half holds exactly.
function halfBits(f) {
  if (f === 0) return 0;
  const bits = new Uint32Array(new Float32Array([f]).buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  return sign | (exponent << 10) | ((bits >>> 13) & 0x3ff);
}

const DIM = 8;
const full = Float32Array.from({ length: 200 * DIM }, (_, i) => ((i * 7919) % 33) * 0.125 - 2);
const half = Uint16Array.from(full, halfBits);

for (const metric of ['l2', 'cosine', 'ip']) {
  test(`float16 bits answer as their float32 values (${metric})`, async () => {
    const a = new nk.Index({ kind: 'flat', metric, dimension: DIM });
    const b = new nk.Index({ kind: 'flat', metric, dimension: DIM });
    a.add(half);
    b.add(full);
    assert.equal(a.vectorType, 'float32');
    const ra = a.search(half.subarray(3 * DIM, 8 * DIM), 4);
    const rb = b.search(full.subarray(3 * DIM, 8 * DIM), 4);
    assert.deepEqual(ra.ids, rb.ids);
    assert.deepEqual(ra.distances, rb.distances);
    const async = await a.searchAsync(half.subarray(3 * DIM, 8 * DIM), 4);
    assert.deepEqual(async.ids, rb.ids);
    if (globalThis.Float16Array !== undefined) {
      const f16 = new globalThis.Float16Array(full);
      assert.deepEqual(a.search(f16.subarray(3 * DIM, 8 * DIM), 4).ids, rb.ids);
    }
    a.close();
    b.close();
  });
}

test('training and async adds take float16 bits', async () => {
  const ivf = new nk.Index({ kind: 'ivf_flat', metric: 'l2', dimension: DIM, params: { nlist: 4 } });
  ivf.train(half);
  await ivf.addAsync(half);
  assert.equal(ivf.count, 200);
  ivf.close();
});

test('bad float16 input is refused', () => {
  const index = new nk.Index({ kind: 'flat', metric: 'l2', dimension: 4 });
  assert.throws(() => index.add(Uint16Array.of(0, 0x7e00, 0, 0)), { code: 'ERR_NEARKIT_INVALID_ARGUMENT', message: /NaN/ });
  assert.throws(() => index.add(new Uint16Array(3)), { code: 'ERR_NEARKIT_INVALID_ARGUMENT', message: /float16/ });
  assert.equal(index.count, 0);
  index.close();
  const bits = new nk.Index({ kind: 'flat', metric: 'hamming', dimension: 64 });
  assert.throws(() => bits.add(new Uint16Array(64)), { name: 'TypeError' });
  bits.close();
});
