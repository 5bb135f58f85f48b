'use strict';
// The golden manifest (tests/golden/manifest.json): every case, against every index kind the
// library reports as exact that supports the case's metric; k-NN and range search, then again
// after a round trip through a Buffer and through a file.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const nk = require('..');
const { goldenDir, loadManifest, loadDataset, checkKnn, checkRange, tmpDir } = require('./helpers');

const manifest = loadManifest();
const exactKinds = nk.kinds().filter((k) => k.exact);

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
    const kinds = exactKinds.filter((k) => k.metrics.includes(c.metric));
    test(`golden ${c.name}`, async (t) => {
      assert.ok(kinds.length > 0, `no exact kind supports ${c.metric}`);
      const ds = loadDataset(manifest, c.dataset);
      const expected = JSON.parse(fs.readFileSync(path.join(goldenDir, c.expected), 'utf8'));
      for (const kind of kinds) {
        await t.test(kind.name, async () => {
          const index = new nk.Index({ kind: kind.name, metric: c.metric, dimension: ds.dimension });
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
  test('every golden case ran against at least one kind', () => {
    assert.ok(runs >= manifest.cases.length, `${runs} runs for ${manifest.cases.length} cases`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}
