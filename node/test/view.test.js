'use strict';
// Read-only views of saved files: Index.view / view(), isView, copy(): the same answers as a load,
// writes refused with ERR_NEARKIT_STATE, a writable copy, IO / CORRUPT errors, use after close.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const nk = require('..');
const { expectError, expectRejection, randomVectors, tmpDir } = require('./helpers');

const N = 400;
const DIM = 16;
const K = 7;
const dir = tmpDir('nearkit-view-');

// Saves a built index of `kind` over N random vectors; returns the file.
function saved(kind) {
  const file = path.join(dir, `${kind}.nkx`);
  const index = new nk.Index({ kind, metric: 'l2', dimension: DIM, seed: 5 });
  index.add(randomVectors(N, DIM));
  index.build();
  index.save(file);
  index.close();
  return file;
}

function sameResult(a, b) {
  assert.deepEqual(a.ids, b.ids);
  assert.deepEqual(a.distances, b.distances);
}

for (const kind of ['flat', 'hnsw', 'ivf_flat']) {
  test(`a ${kind} view answers as the loaded index and refuses writes`, () => {
    const file = saved(kind);
    const queries = randomVectors(20, DIM, 9);
    const loaded = nk.Index.load(file);
    const view = nk.Index.view(file);
    assert.equal(view.isView, true);
    assert.equal(loaded.isView, false);
    assert.equal(view.kind, kind);
    assert.equal(view.count, N);
    sameResult(loaded.search(queries, K), view.search(queries, K));

    expectError(() => view.add(randomVectors(1, DIM)), 'ERR_NEARKIT_STATE', Error, /view/);
    expectError(() => view.remove([0, 1]), 'ERR_NEARKIT_STATE');
    expectError(() => view.compact(), 'ERR_NEARKIT_STATE');
    assert.equal(view.count, N, 'a refused write leaves the view as it was');

    const copy = view.copy();
    assert.equal(copy.isView, false);
    sameResult(loaded.search(queries, K), copy.search(queries, K));
    assert.equal(copy.remove([0, 1]), 2);
    copy.add(randomVectors(3, DIM));
    assert.equal(copy.count, N + 1);
    assert.equal(view.count, N, 'the copy is independent of the view');
    copy.close();

    const verified = nk.view(new URL(`file://${file}`), { verify: true });
    assert.equal(verified.isView, true);
    sameResult(loaded.search(queries, K), verified.search(queries, K));
    verified.close();
    view.close();
    loaded.close();
  });
}

test('viewAsync and copyAsync run on the thread pool with the same answers and errors', async () => {
  const file = saved('hnsw');
  const queries = randomVectors(20, DIM, 9);
  const loaded = nk.Index.load(file);
  const view = await nk.Index.viewAsync(file, { verify: true });
  assert.equal(view.isView, true);
  sameResult(loaded.search(queries, K), view.search(queries, K));
  const copy = await view.copyAsync();
  assert.equal(copy.isView, false);
  sameResult(loaded.search(queries, K), await copy.searchAsync(queries, K));
  copy.add(randomVectors(1, DIM, 2));
  await expectRejection(() => view.addAsync(randomVectors(1, DIM, 2)), 'ERR_NEARKIT_STATE');
  await expectRejection(() => nk.Index.viewAsync(path.join(dir, 'missing.nkx')), 'ERR_NEARKIT_IO');
  const bad = path.join(dir, 'half.nkx');
  fs.writeFileSync(bad, fs.readFileSync(file).subarray(0, 100));
  await expectRejection(() => nk.Index.viewAsync(bad), 'ERR_NEARKIT_CORRUPT');
  await expectRejection(() => nk.Index.viewAsync(file, { verify: 'yes' }), 'ERR_INVALID_ARG_TYPE', TypeError);
  view.close();
  await expectRejection(() => view.copyAsync(), 'ERR_NEARKIT_CLOSED');
  copy.close();
  loaded.close();
});

test('runtime parameters stay settable on a view, build parameters do not', () => {
  const view = nk.Index.view(saved('hnsw'));
  view.setParam('efSearch', 77);
  assert.equal(view.getParam('efSearch'), 77);
  expectError(() => view.setParam('M', 8), 'ERR_NEARKIT_STATE');
  view.close();
});

test('a missing file or a directory is an IO error', () => {
  expectError(() => nk.Index.view(path.join(dir, 'missing.nkx')), 'ERR_NEARKIT_IO', Error, /missing\.nkx/);
  expectError(() => nk.view(dir), 'ERR_NEARKIT_IO');
});

test('a truncated, damaged or foreign file is CORRUPT, never a crash', () => {
  const good = fs.readFileSync(saved('flat'));
  const bad = path.join(dir, 'bad.nkx');
  for (const len of [0, 7, 64, good.length >> 1, good.length - 1]) {
    fs.writeFileSync(bad, good.subarray(0, len));
    for (const verify of [false, true]) {
      expectError(() => nk.Index.view(bad, { verify }), 'ERR_NEARKIT_CORRUPT', Error);
    }
  }
  const flipped = Buffer.from(good);
  flipped[good.length >> 1] ^= 0x5a; // in the stored vectors: only a verifying open reads them
  fs.writeFileSync(bad, flipped);
  expectError(() => nk.Index.view(bad, { verify: true }), 'ERR_NEARKIT_CORRUPT');
  fs.writeFileSync(bad, 'not an index at all, just some text');
  expectError(() => nk.Index.view(bad), 'ERR_NEARKIT_CORRUPT');
});

test('bad arguments are TypeErrors or invalid arguments', () => {
  const file = saved('flat');
  expectError(() => nk.Index.view(42), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => nk.Index.view(file, 'verify'), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => nk.Index.view(file, { verify: 1 }), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => nk.Index.view(file, { verfy: true }), 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /verfy/);
  expectError(() => nk.Index.view('a\0b'), 'ERR_NEARKIT_INVALID_ARGUMENT');
});

test('use after close: isView and copy throw ERR_NEARKIT_CLOSED', () => {
  const view = nk.Index.view(saved('flat'));
  view.close();
  for (const fn of [() => view.isView, () => view.copy(), () => view.search(randomVectors(1, DIM), 1)]) {
    expectError(fn, 'ERR_NEARKIT_CLOSED', Error, /closed/);
  }
  view.close();
});

// ---- loadIfUnviewable -----------------------------------------------------------------------------

// A format version 1 file (saved before views): its vectors are not aligned for use in place.
const VERSION_1_FILE = path.join(__dirname, '..', '..', 'tests', 'fuzz', 'corpus', 'format1-flat-l2-d8-added.nkx1');

test('a file that cannot be viewed throws UNSUPPORTED, or loads with loadIfUnviewable', async () => {
  expectError(() => nk.Index.view(VERSION_1_FILE), 'ERR_NEARKIT_UNSUPPORTED', Error, /re-save/);
  const loaded = nk.Index.load(VERSION_1_FILE);
  const queries = randomVectors(5, 8, 3);
  for (const index of [nk.view(VERSION_1_FILE, { loadIfUnviewable: true }),
    await nk.Index.viewAsync(VERSION_1_FILE, { verify: true, loadIfUnviewable: true })]) {
    assert.equal(index.isView, false);
    sameResult(loaded.search(queries, 3), index.search(queries, 3));
    index.add(randomVectors(1, 8, 4)); // a load: writable
    assert.equal(index.count, loaded.count + 1);
    index.close();
  }
  const viewable = nk.Index.view(saved('flat'), { loadIfUnviewable: true });
  assert.equal(viewable.isView, true, 'a viewable file is still viewed');
  viewable.close();
  loaded.close();
  expectError(() => nk.Index.view(VERSION_1_FILE, { loadIfUnviewable: 'yes' }), 'ERR_INVALID_ARG_TYPE', TypeError);
});

test('a damaged file that cannot be viewed stays CORRUPT with loadIfUnviewable', () => {
  const bytes = fs.readFileSync(VERSION_1_FILE);
  bytes[bytes.length - 1] ^= 0x5a; // the stored checksum, which an unverified view never reads
  const bad = path.join(dir, 'bad-v1.nkx');
  fs.writeFileSync(bad, bytes);
  expectError(() => nk.Index.view(bad, { loadIfUnviewable: true }), 'ERR_NEARKIT_CORRUPT', Error, /checksum/);
});

// ---- viewBuffer -----------------------------------------------------------------------------------

// Whether the bytes at `at` can be viewed in place (they start at a 64-byte boundary): JavaScript
// cannot see addresses, the library tells.
function viewable(at) {
  try {
    nk.Index.viewBuffer(at).close();
    return true;
  } catch (e) {
    assert.equal(e.code, 'ERR_NEARKIT_UNSUPPORTED');
    assert.match(e.message, /aligned/);
    return false;
  }
}

// The file's bytes copied into one fresh ArrayBuffer at each 8-byte offset below 64 in turn (an
// ArrayBuffer's memory is at least 8-byte aligned, so exactly one offset sits on a 64-byte
// boundary): [a copy at that offset, a copy in another buffer that is not aligned].
function alignedAndNot(bytes) {
  const ab = new ArrayBuffer(bytes.length + 64);
  const offsets = [];
  for (let offset = 0; offset < 64; offset += 8) {
    const at = new Uint8Array(ab, offset, bytes.length);
    at.set(bytes);
    if (viewable(at)) offsets.push(offset);
  }
  assert.equal(offsets.length, 1, 'exactly one offset of a buffer is 64-byte aligned');
  const aligned = new Uint8Array(ab, offsets[0], bytes.length);
  aligned.set(bytes);
  const unaligned = new Uint8Array(new ArrayBuffer(bytes.length + 64), 0, bytes.length);
  unaligned.set(bytes);
  const shifted = new Uint8Array(unaligned.buffer, viewable(unaligned) ? 8 : 0, bytes.length);
  shifted.set(bytes);
  return [aligned, shifted];
}

test('viewBuffer views aligned bytes in place and refuses or loads the others', async () => {
  const file = saved('hnsw');
  const bytes = fs.readFileSync(file);
  const queries = randomVectors(20, DIM, 9);
  const loaded = nk.Index.load(file);
  const want = loaded.search(queries, K);
  const [aligned, unaligned] = alignedAndNot(bytes);

  const view = nk.Index.viewBuffer(aligned);
  assert.equal(view.isView, true);
  sameResult(want, view.search(queries, K));
  expectError(() => view.add(randomVectors(1, DIM)), 'ERR_NEARKIT_STATE');
  view.close();
  const viewAsync = await nk.Index.viewBufferAsync(aligned, { verify: true });
  assert.equal(viewAsync.isView, true);
  sameResult(want, await viewAsync.searchAsync(queries, K));
  viewAsync.close();

  expectError(() => nk.Index.viewBuffer(unaligned), 'ERR_NEARKIT_UNSUPPORTED', Error, /aligned/);
  await expectRejection(() => nk.Index.viewBufferAsync(unaligned), 'ERR_NEARKIT_UNSUPPORTED');
  for (const index of [nk.viewBuffer(unaligned, { loadIfUnviewable: true }),
    await nk.Index.viewBufferAsync(unaligned, { loadIfUnviewable: true })]) {
    assert.equal(index.isView, false);
    sameResult(want, index.search(queries, K));
    index.close();
  }
  loaded.close();
});

test('a buffer view keeps its ArrayBuffer alive and ends when it is detached', () => {
  const file = saved('flat');
  const queries = randomVectors(10, DIM, 4);
  const loaded = nk.Index.load(file);
  const want = loaded.search(queries, K);
  const view = nk.Index.viewBuffer(alignedAndNot(fs.readFileSync(file))[0]); // no other reference
  if (global.gc) global.gc();
  for (let i = 0; i < 20; i++) new ArrayBuffer(1 << 20); // pressure the collector
  sameResult(want, view.search(queries, K));
  view.close();

  const [copy] = alignedAndNot(fs.readFileSync(file));
  const detachable = nk.Index.viewBuffer(copy);
  const moved = structuredClone(copy.buffer, { transfer: [copy.buffer] }); // detaches copy.buffer
  assert.equal(copy.buffer.byteLength, 0);
  expectError(() => detachable.search(queries, K), 'ERR_NEARKIT_STATE', Error, /detached/);
  detachable.close();
  assert.ok(moved.byteLength > 0);
  loaded.close();
});

test('viewBuffer: bad arguments and damaged bytes', () => {
  const bytes = fs.readFileSync(saved('flat'));
  expectError(() => nk.Index.viewBuffer(42), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => nk.Index.viewBuffer('bytes'), 'ERR_INVALID_ARG_TYPE', TypeError);
  expectError(() => nk.Index.viewBuffer(bytes, { verfy: true }), 'ERR_NEARKIT_INVALID_ARGUMENT', Error, /verfy/);
  for (let offset = 0; offset < 64; offset += 8) {
    const half = new Uint8Array(new ArrayBuffer(bytes.length), offset, bytes.length >> 1);
    half.set(bytes.subarray(0, bytes.length >> 1));
    expectError(() => nk.Index.viewBuffer(half, { loadIfUnviewable: true }), 'ERR_NEARKIT_CORRUPT');
  }
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
