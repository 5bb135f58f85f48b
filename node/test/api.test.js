'use strict';
// The JavaScript API: construction, options, ids, results, persistence, parameters.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const util = require('util');
const nk = require('..');
const { randomVectors, tmpDir } = require('./helpers');

test('library information comes from the C library', () => {
  assert.match(nk.version, /^\d+\.\d+\.\d+$/);
  const [maj, min, pat] = nk.version.split('.').map(Number);
  assert.equal(nk.versionNumber, maj * 10000 + min * 100 + pat);
  assert.equal(typeof nk.abiVersion, 'number');
  assert.equal(require('../package.json').version, nk.version, 'package version follows the library');
  const kinds = nk.kinds();
  assert.ok(kinds.some((k) => k.name === 'flat' && k.exact && !k.compressed));
  assert.ok(kinds.some((k) => k.name === 'ivf_sq8' && k.compressed));
  for (const k of kinds) {
    assert.equal(typeof k.name, 'string');
    assert.equal(typeof k.description, 'string');
    assert.ok(Array.isArray(k.metrics) && k.metrics.length > 0);
    for (const m of k.metrics) assert.ok(nk.metrics().includes(m));
  }
  assert.deepEqual(nk.metrics().slice().sort(), ['cosine', 'hamming', 'ip', 'l1', 'l2', 'linf']);
});

test('a flat index finds the nearest neighbours', () => {
  const index = new nk.Index({ kind: 'flat', metric: 'l2', dimension: 3, numThreads: 1 });
  assert.equal(index.kind, 'flat');
  assert.equal(index.metric, 'l2');
  assert.equal(index.dimension, 3);
  assert.equal(index.vectorType, 'float32');
  assert.equal(index.vectorBytes, 12);
  assert.equal(index.count, 0);
  index.add(new Float32Array([0, 0, 0, 1, 0, 0, 0, 2, 0]));
  assert.equal(index.count, 3);
  assert.equal(index.isReady, true);
  assert.ok(index.memoryBytes > 0);
  const r = index.search(new Float32Array([0.9, 0, 0, 0, 1.8, 0]), 2);
  assert.equal(r.k, 2);
  assert.equal(r.count, 2);
  assert.ok(r.ids instanceof BigInt64Array);
  assert.ok(r.distances instanceof Float32Array);
  assert.deepEqual(Array.from(r.ids), [1n, 0n, 2n, 0n]);
  assert.ok(Math.abs(r.distances[0] - 0.1) < 1e-6);
  assert.ok(Math.abs(r.distances[1] - 0.9) < 1e-6);
  assert.ok(Math.abs(r.distances[2] - 0.2) < 1e-6);
  assert.ok(Math.abs(r.distances[3] - 1.8) < 1e-6);
  index.close();
});

test('defaults: kind flat, metric l2', () => {
  const index = new nk.Index({ dimension: 2 });
  assert.equal(index.kind, 'flat');
  assert.equal(index.metric, 'l2');
  index.close();
});

test('k larger than the index pads with id -1 and distance Infinity', () => {
  const index = new nk.Index({ metric: 'l1', dimension: 2 });
  index.add(new Float32Array([0, 0, 1, 1]));
  const r = index.search(new Float32Array([0, 0]), 5);
  assert.deepEqual(Array.from(r.ids), [0n, 1n, -1n, -1n, -1n]);
  assert.deepEqual(Array.from(r.distances.subarray(2)), [Infinity, Infinity, Infinity]);
  index.close();
});

test('custom ids: BigInt64Array, number arrays, bigint arrays; default ids continue insertion order', () => {
  const index = new nk.Index({ metric: 'l2', dimension: 1 });
  index.add(new Float32Array([0, 10]), new BigInt64Array([100n, -5n]));
  index.add(new Float32Array([20]), [9007199254740991]);
  index.add(new Float32Array([30]), [2n ** 63n - 1n]);
  index.add(new Float32Array([40])); // the 5th vector ever added: id 4
  const r = index.search(new Float32Array([0, 10, 20, 30, 40]), 1);
  assert.deepEqual(Array.from(r.ids), [100n, -5n, 9007199254740991n, 2n ** 63n - 1n, 4n]);
  index.close();
});

test('inputs are borrowed views: subarrays with an offset work, nothing is copied out', () => {
  const index = new nk.Index({ metric: 'l2', dimension: 2 });
  const backing = new Float32Array([99, 99, 0, 0, 5, 5, 99]);
  index.add(backing.subarray(2, 6));
  const r = index.search(backing.subarray(4, 6), 1);
  assert.equal(r.ids[0], 1n);
  assert.equal(r.distances[0], 0);
  index.close();
});

test('empty inputs: adding nothing is a no-op, searching no queries gives no rows', () => {
  const index = new nk.Index({ metric: 'l2', dimension: 4 });
  index.add(new Float32Array(0));
  assert.equal(index.count, 0);
  index.add(randomVectors(10, 4));
  const r = index.search(new Float32Array(0), 3);
  assert.equal(r.count, 0);
  assert.equal(r.ids.length, 0);
  const rr = index.rangeSearch(new Float32Array(0), 1);
  assert.equal(rr.count, 0);
  assert.deepEqual(Array.from(rr.offsets), [0]);
  index.close();
});

test('range search returns CSR rows, nearest first', () => {
  const index = new nk.Index({ metric: 'linf', dimension: 1 });
  index.add(new Float32Array([0, 1, 2, 3, 4]));
  const r = index.rangeSearch(new Float32Array([2, 10, 0.1]), 1);
  assert.equal(r.count, 3);
  assert.ok(r.offsets instanceof Float64Array);
  assert.deepEqual(Array.from(r.offsets), [0, 3, 3, 5]);
  assert.deepEqual(Array.from(r.ids), [2n, 1n, 3n, 0n, 1n]);
  assert.ok(Math.abs(r.distances[4] - 0.9) < 1e-6);
  const row0 = r.ids.subarray(r.offsets[0], r.offsets[1]);
  assert.equal(row0.length, 3);
  index.close();
});

test('binary vectors with the hamming metric take Uint8Array and Buffer', async () => {
  const index = new nk.Index({ metric: 'hamming', dimension: 16 });
  assert.equal(index.vectorType, 'binary');
  assert.equal(index.vectorBytes, 2);
  index.add(new Uint8Array([0x00, 0x00, 0xff, 0x00, 0xff, 0xff]));
  const r = index.search(Buffer.from([0x0f, 0x00]), 3);
  assert.deepEqual(Array.from(r.ids), [0n, 1n, 2n]);
  assert.deepEqual(Array.from(r.distances), [4, 4, 12]);
  const ra = await index.searchAsync(Buffer.from([0xff, 0x01]), 1);
  assert.deepEqual(Array.from(ra.ids), [1n]);
  assert.deepEqual(Array.from(ra.distances), [1]);
  index.close();
});

test('every metric of the flat kind searches', () => {
  const flat = nk.kinds().find((k) => k.name === 'flat');
  const data = randomVectors(50, 8, 7);
  for (const metric of flat.metrics) {
    const binary = metric === 'hamming';
    const index = new nk.Index({ metric, dimension: binary ? 64 : 8 });
    index.add(binary ? new Uint8Array(data.buffer) : data);
    const q = binary ? new Uint8Array(data.buffer, 0, 8) : data.subarray(0, 8);
    const r = index.search(q, 3);
    assert.equal(r.ids[0], 0n, `${metric}: a base vector is its own nearest neighbour`);
    index.close();
  }
});

test('save/load through a path, a file: URL and a Buffer give the same results', async () => {
  const dir = tmpDir();
  const index = new nk.Index({ metric: 'cosine', dimension: 8, numThreads: 2 });
  const data = randomVectors(200, 8, 3);
  index.add(data);
  const queries = randomVectors(20, 8, 4);
  const want = index.search(queries, 5);
  const file = path.join(dir, 'a.nkx');
  index.save(file);
  await index.saveAsync(pathToFileURL(path.join(dir, 'b.nkx')));
  const buffer = index.toBuffer();
  assert.ok(Buffer.isBuffer(buffer));
  assert.deepEqual(fs.readFileSync(file), buffer, 'toBuffer holds the file format');
  const copies = [
    nk.Index.load(file),
    nk.Index.load(pathToFileURL(path.join(dir, 'b.nkx'))),
    nk.Index.fromBuffer(buffer),
    nk.Index.fromBuffer(new Uint8Array(buffer)),
    nk.Index.fromBuffer(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length)),
    await nk.Index.fromBufferAsync(buffer),
    await nk.Index.loadAsync(file),
  ];
  for (const copy of copies) {
    assert.equal(copy.metric, 'cosine');
    assert.equal(copy.count, 200);
    assert.equal(copy.getParam('numThreads'), 2);
    const got = copy.search(queries, 5);
    assert.deepEqual(got.ids, want.ids);
    assert.deepEqual(got.distances, want.distances);
    copy.close();
  }
  index.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('parameters: enumerated from the library, camelCase or snake_case names', () => {
  const index = new nk.Index({ metric: 'l2', dimension: 4, numThreads: 3, params: { numThreads: 2 } });
  const info = index.paramInfo();
  assert.ok(info.some((p) => p.name === 'numThreads' && p.nativeName === 'num_threads' && p.integer));
  assert.ok(info.every((p) => !p.recall), 'flat has no recall setting');
  const hnsw = new nk.Index({ kind: 'hnsw', metric: 'l2', dimension: 4 });
  assert.deepEqual(hnsw.paramInfo().filter((p) => p.recall).map((p) => p.name), ['efSearch']);
  hnsw.close();
  assert.equal(index.getParam('numThreads'), 2, 'params override numThreads');
  index.setParam('num_threads', 1);
  assert.equal(index.getParam('numThreads'), 1);
  const all = index.params();
  assert.equal(all.numThreads, 1);
  for (const p of info) assert.equal(typeof all[p.name], 'number');
  index.close();
  const snake = new nk.Index({ dimension: 4, params: { num_threads: 2 } });
  assert.equal(snake.getParam('num_threads'), 2);
  snake.close();
});

test('paramInfo: range, default and description of every parameter of every kind', () => {
  for (const kind of nk.kinds()) {
    for (const metric of kind.metrics) {
      const dimension = metric === 'hamming' ? 64 : 16;
      const index = new nk.Index({ kind: kind.name, metric, dimension });
      const info = index.paramInfo();
      assert.deepEqual(info.map((p) => p.name), Object.keys(index.params()));
      assert.ok(info[0].nativeName === 'num_threads' && info[0].description !== '', 'the generic parameter is described');
      for (const p of info) {
        const what = `${kind.name}/${metric}/${p.nativeName}`;
        assert.equal(typeof p.description, 'string', what);
        assert.ok(p.minimum <= p.maximum, what);
        if (p.readOnly) {
          assert.equal(p.default, null, what);
        } else {
          assert.notEqual(p.description, '', `${what} is described`);
          assert.equal(p.default, index.getParam(p.name), `${what}: default is a new index's value`);
          assert.ok(p.minimum <= p.default && p.default <= p.maximum, what);
        }
      }
      index.close();
    }
  }
});

test('search options: numThreads per call gives the same results', async () => {
  const index = new nk.Index({ metric: 'l2', dimension: 16 });
  index.add(randomVectors(500, 16, 9));
  const q = randomVectors(64, 16, 10);
  const a = index.search(q, 4);
  const b = index.search(q, 4, { numThreads: 1 });
  const c = await index.searchAsync(q, 4, { numThreads: 2 });
  assert.deepEqual(a.ids, b.ids);
  assert.deepEqual(a.ids, c.ids);
  assert.deepEqual(a.distances, c.distances);
  index.close();
});

test('async add, train and build resolve and take effect', async () => {
  for (const kind of nk.kinds().filter((k) => !k.needsTraining)) {
    const metric = kind.metrics.includes('l2') ? 'l2' : kind.metrics[0];
    const binary = metric === 'hamming';
    const dim = binary ? 64 : 8;
    const data = randomVectors(400, 8, 11);
    const vectors = binary ? new Uint8Array(data.buffer, 0, 400 * 8) : data;
    const index = new nk.Index({ kind: kind.name, metric, dimension: dim, numThreads: 1 });
    await index.trainAsync(vectors);
    await index.addAsync(vectors);
    await index.buildAsync();
    assert.equal(index.count, 400, kind.name);
    assert.equal(index.isReady, true, kind.name);
    const q = binary ? vectors.subarray(0, 8 * 5) : vectors.subarray(0, 8 * 5);
    const r = await index.searchAsync(q, 1);
    assert.equal(r.count, 5);
    index.close();
  }
});

test('describe, inspect and close', () => {
  const index = new nk.Index({ metric: 'ip', dimension: 2 });
  index.add(new Float32Array([1, 2]));
  assert.match(index.describe(), /flat/);
  assert.match(util.inspect(index), /Index .*flat.*ip.*dimension: 2.*count: 1/s);
  assert.equal(index.closed, false);
  index.close();
  index.close(); // idempotent
  assert.equal(index.closed, true);
  assert.match(util.inspect(index), /closed/);
  // Fixed facts stay readable after close.
  assert.equal(index.dimension, 2);
});

test('Symbol.dispose closes the index where the runtime has it', { skip: typeof Symbol.dispose !== 'symbol' }, () => {
  const index = new nk.Index({ dimension: 2 });
  index[Symbol.dispose]();
  assert.equal(index.closed, true);
});

test('ES module import gives the same API', async () => {
  const mod = await import(pathToFileURL(require.resolve('..')).href);
  assert.equal(typeof mod.Index, 'function');
  assert.equal(mod.version, nk.version);
  assert.equal(typeof mod.default.kinds, 'function');
});
