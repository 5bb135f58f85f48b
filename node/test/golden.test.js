'use strict';
// The golden manifest (tests/golden/manifest.json): every case, against every index kind the
// library reports as exact that supports the case's metric; k-NN and range search, then again
// after a round trip through a Buffer and through a file. The manifest's approximate kinds run the
// same cases under their exact parameters, and must reach its recall floors under their recall
// parameters.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const nk = require('..');
const { goldenDir, loadManifest, loadDataset, checkKnn, checkRange, tmpDir } = require('./helpers');

const manifest = loadManifest();
const exactKinds = nk.kinds().filter((k) => k.exact);
const kindByName = new Map(nk.kinds().map((k) => [k.name, k]));
const approximate = Object.entries((manifest && manifest.approximate && manifest.approximate.kinds) || {});

// The runs of a case: every exact kind with default parameters, every approximate kind under its
// exact parameters; each only where it supports the metric.
function kindRuns(metric) {
  const runs = exactKinds.map((kind) => ({ kind, params: undefined, label: kind.name }));
  for (const [name, spec] of approximate) {
    const kind = kindByName.get(name);
    if (kind) runs.push({ kind, params: spec.exact_params, label: `${name} (${spec.exact_params})` });
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
    for (const [name] of approximate) assert.ok(kindByName.has(name), `no kind ${name} in the library`);
  });
  for (const [name, spec] of approximate) {
    const kind = kindByName.get(name);
    for (const c of manifest.cases) {
      const floor = spec.min_recall[c.dataset];
      if (!kind || floor === undefined || !kind.metrics.includes(c.metric)) continue;
      test(`recall ${c.name} ${name} (${spec.recall_params})`, () => {
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
  test('every golden case ran against at least one kind', () => {
    assert.ok(runs >= manifest.cases.length, `${runs} runs for ${manifest.cases.length} cases`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}
