'use strict';
// The golden manifest (tests/golden/manifest.json): every case, against every index kind the
// library reports as exact that supports the case's metric; k-NN and range search, then again
// after a round trip through a Buffer and through a file. The manifest's approximate kinds run the
// same cases under their exact parameters, and must reach its recall floors under their recall
// parameters. The manifest's living cases (docs/golden.md, "Living cases") run on the same kinds:
// remove ids, add some back under their ids, build again, then searches with an id-list filter,
// also on a copy loaded from a Buffer. A kind whose remove, add after build or filtered search
// throws ERR_NEARKIT_UNSUPPORTED is skipped with a SKIP line (a failure when
// NEARKIT_GOLDEN_STRICT=1), as the C suite does without --strict.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const nk = require('..');
const { goldenDir, loadManifest, loadDataset, checkKnn, checkRange, tmpDir } = require('./helpers');

const manifest = loadManifest();
const exactKinds = nk.kinds().filter((k) => k.exact);
const kindByName = new Map(nk.kinds().map((k) => [k.name, k]));
// [label, kind name, spec]: an entry names its kind in "kind" when its label is not the kind's name
const approximate = Object.entries((manifest && manifest.approximate && manifest.approximate.kinds) || {})
  .map(([label, spec]) => [label, spec.kind || label, spec]);

// The runs of a case: every exact kind with default parameters, every approximate kind under its
// exact parameters; each only where it supports the metric.
function kindRuns(metric) {
  const runs = exactKinds.map((kind) => ({ kind, params: undefined, label: kind.name }));
  for (const [label, name, spec] of approximate) {
    const kind = kindByName.get(name);
    if (kind) runs.push({ kind, params: spec.exact_params, label: `${label} (${spec.exact_params})` });
  }
  return runs.filter((r) => r.kind.metrics.includes(metric));
}

function assertPasses(fails, label) {
  assert.deepEqual(fails, [], `${label}:\n  ${fails.join('\n  ')}`);
}

test('the golden manifest is present and well formed', () => {
  assert.ok(manifest, `no manifest at ${goldenDir}`);
  assert.equal(manifest.format, 1);
  assert.ok(manifest.cases.length > 0);
  assert.ok(exactKinds.length > 0, 'the library reports no exact kind');
});

if (manifest) {
  const dir = tmpDir('nearkit-golden-');
  let runs = 0;
  for (const c of manifest.cases) {
    const kinds = kindRuns(c.metric);
    test(`golden ${c.name}`, async (t) => {
      assert.ok(kinds.some((r) => r.kind.exact), `no exact kind supports ${c.metric}`);
      const ds = loadDataset(manifest, c.dataset);
      const expected = JSON.parse(fs.readFileSync(path.join(goldenDir, c.expected), 'utf8'));
      for (const { kind, params, label } of kinds) {
        await t.test(label, async () => {
          const index = new nk.Index({ kind: kind.name, metric: c.metric, dimension: ds.dimension, params });
          try {
            if (kind.needsTraining) index.train(ds.base);
            index.add(ds.base);
            index.build();
            assert.equal(index.count, ds.count);
            const check = (idx, label) => {
              assertPasses(checkKnn(manifest.comparison, expected, idx.search(ds.queries, c.k)), `${label} knn`);
              assertPasses(checkRange(manifest.comparison, expected, idx.rangeSearch(ds.queries, c.radius), c.radius), `${label} range`);
            };
            check(index, kind.name);

            const fromBuffer = nk.Index.fromBuffer(index.toBuffer());
            check(fromBuffer, `${kind.name} after toBuffer/fromBuffer`);
            fromBuffer.close();

            const file = path.join(dir, `${c.name}.${kind.name}.nkx`);
            await index.saveAsync(file);
            const loaded = await nk.Index.loadAsync(file);
            // The loaded copy is searched through the asynchronous path.
            assertPasses(checkKnn(manifest.comparison, expected, await loaded.searchAsync(ds.queries, c.k)), `${kind.name} loaded knn`);
            assertPasses(
              checkRange(manifest.comparison, expected, await loaded.rangeSearchAsync(ds.queries, c.radius), c.radius),
              `${kind.name} loaded range`
            );
            loaded.close();
            fs.rmSync(file);
            runs++;
          } finally {
            index.close();
          }
        });
      }
    });
  }
  test('every approximate kind of the manifest is a kind of the library', () => {
    for (const [, name] of approximate) assert.ok(kindByName.has(name), `no kind ${name} in the library`);
  });
  for (const [label, name, spec] of approximate) {
    const kind = kindByName.get(name);
    for (const c of manifest.cases) {
      const floor = spec.min_recall[c.dataset];
      if (!kind || floor === undefined || !kind.metrics.includes(c.metric)) continue;
      test(`recall ${c.name} ${label} (${spec.recall_params})`, () => {
        const ds = loadDataset(manifest, c.dataset);
        const expected = JSON.parse(fs.readFileSync(path.join(goldenDir, c.expected), 'utf8'));
        const index = new nk.Index({ kind: name, metric: c.metric, dimension: ds.dimension, params: spec.recall_params });
        try {
          index.add(ds.base);
          index.build();
          const { ids } = index.search(ds.queries, c.k);
          let found = 0;
          let wanted = 0;
          expected.knn_ids.forEach((row, q) => {
            const actual = new Set(Array.from(ids.subarray(q * c.k, (q + 1) * c.k), Number));
            for (const id of row) {
              if (id === -1) continue;
              wanted++;
              if (actual.has(id)) found++;
            }
          });
          const recall = wanted ? found / wanted : 1;
          assert.ok(recall >= floor, `recall@${c.k} ${recall.toFixed(3)} below the floor ${floor}`);
        } finally {
          index.close();
        }
      });
    }
  }
  runLivingCases();
  test('every golden case ran against at least one kind', () => {
    assert.ok(runs >= manifest.cases.length, `${runs} runs for ${manifest.cases.length} cases`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

// ---- Living cases (docs/golden.md, "Living cases") ----------------------------------------------

// Thrown to end a living unit as skipped: the kind reported UNSUPPORTED for one of its steps.
class Unsupported extends Error {}

// Runs one step of a living case; ERR_NEARKIT_UNSUPPORTED becomes an Unsupported naming the
// stage, unless NEARKIT_GOLDEN_STRICT=1 makes it a failure like any other error.
async function livingStep(stage, what, fn) {
  try {
    return await fn();
  } catch (e) {
    if (e && e.code === 'ERR_NEARKIT_UNSUPPORTED' && process.env.NEARKIT_GOLDEN_STRICT !== '1') {
      throw new Unsupported(`stage=${stage}: ${what} threw ERR_NEARKIT_UNSUPPORTED (${e.message})`);
    }
    throw e;
  }
}

// The base vectors of `ids`, in their order, as one typed array of the dataset's element type.
function baseRows(ds, ids) {
  const width = ds.vector_type === 'binary' ? ds.dimension / 8 : ds.dimension;
  const out = new ds.base.constructor(ids.length * width);
  ids.forEach((id, j) => out.set(ds.base.subarray(id * width, (id + 1) * width), j * width));
  return out;
}

// Steps 2-4: remove the case's ids (one call, made even when the list is empty), add the add_back
// ids again with their base vectors under those ids, in the listed order (no call when empty),
// build again.
async function applyLivingChanges(index, ds, change) {
  const removed = await livingStep('remove', 'remove', () => index.remove(change.remove));
  assert.equal(removed, change.remove.length, 'remove reports a wrong count');
  if (change.add_back.length > 0) {
    const ids = BigInt64Array.from(change.add_back, BigInt);
    await livingStep('add_back', 'add', () => index.add(baseRows(ds, change.add_back), ids));
  }
  await livingStep('rebuild', 'build', () => index.build());
}

// Steps 6 and 7's searches: k-NN and range of all queries under the case's filter, compared by the
// manifest's rule. `search` and `rangeSearch` are the index's synchronous or asynchronous calls.
async function checkLivingSearches(l, ds, change, stage, search, rangeSearch) {
  const options = change.filter === null ? undefined : { filter: BigInt64Array.from(change.filter, BigInt) };
  const knn = await livingStep(stage, 'a filtered search', () => search(ds.queries, l.k, options));
  assertPasses(checkKnn(manifest.comparison, change, knn), `${stage} knn`);
  const range = await livingStep(stage, 'a filtered rangeSearch', () => rangeSearch(ds.queries, l.radius, options));
  assertPasses(checkRange(manifest.comparison, change, range, l.radius), `${stage} range`);
}

// One living case on one kind (steps 1-7). The loaded copy is searched through the asynchronous
// path, so that the filter's copy for the thread pool is checked too.
async function runLivingOnKind(l, ds, change, kind, params) {
  const expectedCount = ds.count - change.remove.length + change.add_back.length;
  const index = new nk.Index({ kind: kind.name, metric: l.metric, dimension: ds.dimension, params });
  try {
    if (kind.needsTraining) index.train(ds.base);
    index.add(ds.base);
    index.build();
    await applyLivingChanges(index, ds, change);
    assert.equal(index.count, expectedCount, 'count after remove and add back');
    await checkLivingSearches(l, ds, change, 'original', index.search.bind(index), index.rangeSearch.bind(index));

    const loaded = nk.Index.fromBuffer(index.toBuffer());
    try {
      assert.deepEqual(
        [loaded.kind, loaded.metric, loaded.vectorType, loaded.dimension, loaded.count],
        [index.kind, index.metric, index.vectorType, index.dimension, expectedCount],
        'the copy loaded from a buffer describes another index'
      );
      await checkLivingSearches(l, ds, change, 'buffer', loaded.searchAsync.bind(loaded), loaded.rangeSearchAsync.bind(loaded));
    } finally {
      loaded.close();
    }
  } finally {
    index.close();
  }
}

// Every living case of the manifest on every kind of its metric (approximate kinds under their
// exact_params), one subtest per kind; a per-kind tally is printed at the end.
function runLivingCases() {
  const living = manifest.living || [];
  const tally = new Map(); // label -> {passed, failed, skipped}
  const count = (label, outcome) => {
    if (!tally.has(label)) tally.set(label, { passed: 0, failed: 0, skipped: 0 });
    tally.get(label)[outcome]++;
  };
  let ran = 0;
  test('the manifest lists living cases', () => {
    assert.ok(Array.isArray(manifest.living) && manifest.living.length > 0, 'no "living" list in the manifest');
  });
  for (const l of living) {
    const kinds = kindRuns(l.metric);
    test(`living ${l.name}`, async (t) => {
      assert.ok(kinds.some((r) => r.kind.exact), `no exact kind supports ${l.metric}`);
      const ds = loadDataset(manifest, l.dataset);
      const change = JSON.parse(fs.readFileSync(path.join(goldenDir, l.case), 'utf8'));
      let exactRan = 0;
      for (const { kind, params, label } of kinds) {
        await t.test(label, async (st) => {
          try {
            await runLivingOnKind(l, ds, change, kind, params);
          } catch (e) {
            if (!(e instanceof Unsupported)) {
              count(kind.name, 'failed');
              throw e;
            }
            console.log(`SKIP case=${l.name} kind=${label} ${e.message}`);
            count(kind.name, 'skipped');
            st.skip(e.message);
            return;
          }
          count(kind.name, 'passed');
          if (kind.exact) exactRan++;
          ran++;
        });
      }
      assert.ok(exactRan > 0, `no exact kind ran ${l.name} (all skipped or failed)`);
    });
  }
  test('every living case ran against at least one kind', (t) => {
    const summary = [...tally].map(([name, c]) => `${name} ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`);
    t.diagnostic(`golden: living cases by kind: ${summary.join('; ')}`);
    assert.ok(ran >= living.length, `${ran} runs for ${living.length} living cases`);
  });
}
