'use strict';
// Shared test helpers: locations, TEXMEX readers, the golden manifest's comparison rule.
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');

const nodeRoot = path.resolve(__dirname, '..');
const repoRoot = path.resolve(nodeRoot, '..');
const goldenDir = path.resolve(process.env.NEARKIT_GOLDEN_DIR || path.join(repoRoot, 'tests', 'golden'));

// The CLI: $NEARKIT_CLI (ctest passes it), else the default build directory's.
function cliPath() {
  const p = process.env.NEARKIT_CLI || path.join(repoRoot, 'build', 'nearkit');
  return fs.existsSync(p) ? p : null;
}

function tmpDir(prefix = 'nearkit-node-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Reads a TEXMEX file: .fvecs (int32 dimension + float32 values per row), .bvecs (int32 byte count
 * + uint8 values per row) or .ivecs (int32 count + int32 values per row). Returns the rows as one
 * contiguous typed array with the row count and the per-row element count.
 */
function readVecs(file) {
  const buf = fs.readFileSync(file);
  const ext = path.extname(file);
  const elem = ext === '.bvecs' ? 1 : 4;
  let off = 0;
  let dim = -1;
  const rows = [];
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new Error(`${file}: truncated row header`);
    const d = buf.readInt32LE(off);
    if (dim === -1) dim = d;
    if (d !== dim) throw new Error(`${file}: rows of different lengths`);
    off += 4;
    if (off + d * elem > buf.length) throw new Error(`${file}: truncated row`);
    rows.push(off);
    off += d * elem;
  }
  const n = rows.length;
  const Ctor = ext === '.bvecs' ? Uint8Array : ext === '.ivecs' ? Int32Array : Float32Array;
  const data = new Ctor(n * Math.max(dim, 0));
  rows.forEach((start, i) => {
    for (let j = 0; j < dim; j++) {
      data[i * dim + j] =
        ext === '.bvecs' ? buf[start + j] : ext === '.ivecs' ? buf.readInt32LE(start + 4 * j) : buf.readFloatLE(start + 4 * j);
    }
  });
  return { data, n, dim: Math.max(dim, 0) };
}

/** Writes Float32Array rows of `dim` values as .fvecs. */
function writeFvecs(file, data, dim) {
  const n = data.length / dim;
  const buf = Buffer.alloc(n * (4 + 4 * dim));
  for (let i = 0; i < n; i++) {
    const base = i * (4 + 4 * dim);
    buf.writeInt32LE(dim, base);
    for (let j = 0; j < dim; j++) buf.writeFloatLE(data[i * dim + j], base + 4 + 4 * j);
  }
  fs.writeFileSync(file, buf);
}

function loadManifest() {
  const file = path.join(goldenDir, 'manifest.json');
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

const datasetCache = new Map();
function loadDataset(manifest, name) {
  if (!datasetCache.has(name)) {
    const ds = manifest.datasets[name];
    const base = readVecs(path.join(goldenDir, ds.base));
    const queries = readVecs(path.join(goldenDir, ds.queries));
    if (base.n !== ds.count || queries.n !== ds.query_count) throw new Error(`dataset ${name}: counts differ from the manifest`);
    datasetCache.set(name, { ...ds, base: base.data, queries: queries.data });
  }
  return datasetCache.get(name);
}

function makeTol(comparison) {
  return (d) => comparison.distance_atol + comparison.distance_rtol * Math.abs(d);
}

const MAX_FAILURES = 10;

/**
 * The manifest's k-NN rule. `actual` is a search result ({ids, distances, k, count}); `expected`
 * is the case's expected JSON. Returns a list of failure messages (empty when it passes).
 */
function checkKnn(comparison, expected, actual) {
  const tol = makeTol(comparison);
  const fails = [];
  const k = actual.k;
  const rows = expected.knn_ids.length;
  if (actual.count !== rows) return [`expected ${rows} rows, got ${actual.count}`];
  for (let q = 0; q < rows && fails.length < MAX_FAILURES; q++) {
    const eIds = expected.knn_ids[q];
    const eDist = expected.knn_distances[q].map((d) => (d === null ? Infinity : d));
    if (eIds.length !== k) {
      fails.push(`query ${q}: expected row has ${eIds.length} entries, k is ${k}`);
      continue;
    }
    const aIds = Array.from(actual.ids.subarray(q * k, q * k + k), Number);
    const aDist = Array.from(actual.distances.subarray(q * k, q * k + k));
    for (let j = 0; j < k; j++) {
      if ((eIds[j] === -1) !== (aIds[j] === -1)) fails.push(`query ${q} position ${j}: expected id ${eIds[j]}, got ${aIds[j]}`);
      else if (eIds[j] !== -1 && !(Math.abs(aDist[j] - eDist[j]) <= tol(eDist[j]))) {
        fails.push(`query ${q} position ${j}: distance ${aDist[j]}, expected ${eDist[j]}`);
      }
    }
    const finite = eDist.filter((d, j) => eIds[j] !== -1);
    if (finite.length === 0) continue;
    const dk = Math.max(...finite);
    const bound = dk - tol(dk);
    const aSet = new Set(aIds.filter((id) => id !== -1));
    if (aSet.size !== aIds.filter((id) => id !== -1).length) fails.push(`query ${q}: duplicate ids ${aIds}`);
    const eSet = new Set(eIds.filter((id) => id !== -1));
    eIds.forEach((id, j) => {
      if (id !== -1 && eDist[j] < bound && !aSet.has(id)) fails.push(`query ${q}: expected id ${id} (distance ${eDist[j]}) missing`);
    });
    aIds.forEach((id, j) => {
      if (id !== -1 && !eSet.has(id) && !(aDist[j] >= bound)) {
        fails.push(`query ${q}: unexpected id ${id} at distance ${aDist[j]} < ${bound}`);
      }
    });
  }
  return fails.slice(0, MAX_FAILURES);
}

/** The manifest's range rule. `actual` is a range result ({offsets, ids, distances, count}). */
function checkRange(comparison, expected, actual, radius) {
  const tol = makeTol(comparison);
  const fails = [];
  const rows = expected.range_ids.length;
  if (actual.count !== rows || actual.offsets.length !== rows + 1) return [`expected ${rows} rows, got ${actual.count}`];
  const rtol = tol(radius);
  for (let q = 0; q < rows && fails.length < MAX_FAILURES; q++) {
    const exp = new Map();
    expected.range_ids[q].forEach((id, j) => exp.set(id, expected.range_distances[q][j]));
    const lo = actual.offsets[q];
    const hi = actual.offsets[q + 1];
    const aIds = Array.from(actual.ids.subarray(lo, hi), Number);
    const aDist = Array.from(actual.distances.subarray(lo, hi));
    const act = new Map();
    aIds.forEach((id, j) => act.set(id, aDist[j]));
    if (act.size !== aIds.length) fails.push(`query ${q}: duplicate ids`);
    for (const [id, d] of exp) {
      if (d < radius - rtol && !act.has(id)) fails.push(`query ${q}: expected id ${id} (distance ${d}) missing`);
      if (act.has(id) && !(Math.abs(act.get(id) - d) <= tol(d))) fails.push(`query ${q}: id ${id} distance ${act.get(id)}, expected ${d}`);
    }
    for (const [id, d] of act) {
      if (!exp.has(id) && !(d >= radius - rtol && d <= radius + rtol)) fails.push(`query ${q}: unexpected id ${id} at distance ${d}`);
    }
    for (let j = 1; j < aDist.length; j++) {
      if (!(aDist[j] >= aDist[j - 1])) fails.push(`query ${q}: distances decrease at ${j}`);
    }
  }
  return fails.slice(0, MAX_FAILURES);
}

/** Deterministic pseudo-random float vectors (xorshift), for tests that need no golden data. */
function randomVectors(n, dim, seed = 1) {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

/**
 * Asserts that fn() throws a `Ctor` (an Error by default) with `code` and a non-empty message,
 * matching `pattern` when one is given.
 */
function expectError(fn, code, Ctor = Error, pattern) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof Ctor, `expected a ${Ctor.name}, got ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
    assert.equal(e.code, code, `code of: ${e.message}`);
    assert.equal(typeof e.message, 'string');
    assert.ok(e.message.length > 0);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

/**
 * Asserts that an async method rejects instead of throwing: `promiseOrFn` (a Promise, or a function
 * returning one, called here) rejects with a `Ctor` with `code`, matching `pattern` if given.
 */
async function expectRejection(promiseOrFn, code, Ctor = Error, pattern) {
  let promise;
  assert.doesNotThrow(() => {
    promise = typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn;
  }, 'async methods reject instead of throwing');
  assert.ok(promise instanceof Promise);
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof Ctor, `expected a ${Ctor.name}: ${e && e.message}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

module.exports = {
  expectError,
  expectRejection,
  nodeRoot,
  repoRoot,
  goldenDir,
  cliPath,
  tmpDir,
  readVecs,
  writeFvecs,
  loadManifest,
  loadDataset,
  checkKnn,
  checkRange,
  randomVectors,
};
