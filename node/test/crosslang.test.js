'use strict';
// Cross-language files: an index the CLI writes loads here with identical results, and an index
// saved here is searched by the CLI with identical results. The CLI is $NEARKIT_CLI (ctest passes
// it) or ../build/nearkit.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const nk = require('..');
const { cliPath, goldenDir, loadManifest, loadDataset, readVecs, tmpDir } = require('./helpers');

const cli = cliPath();
const manifest = loadManifest();
const CASES = [
  { dataset: 'clustered_d16', metric: 'l2', k: 10, radius: 0.55 },
  { dataset: 'uniform_d128', metric: 'cosine', k: 7, radius: 0.8 },
  { dataset: 'duplicates_d4', metric: 'l1', k: 12, radius: 0.3 },
  { dataset: 'grid_2d', metric: 'linf', k: 9, radius: 1 },
  { dataset: 'clustered_d2', metric: 'ip', k: 5, radius: -150 },
  { dataset: 'binary256', metric: 'hamming', k: 10, radius: 100 },
];

function runCli(args) {
  return execFileSync(cli, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// k-NN through the CLI, read back exactly from .ivecs / .fvecs.
function cliKnn(indexFile, queriesFile, k, dir) {
  const ids = path.join(dir, 'cli-ids.ivecs');
  const dists = path.join(dir, 'cli-dists.fvecs');
  runCli(['search', '--k', String(k), '--out', ids, '--distances', dists, indexFile, queriesFile]);
  const i = readVecs(ids);
  const d = readVecs(dists);
  return { ids: Array.from(i.data), distances: Array.from(d.data), rows: i.n };
}

// Range search through the CLI's printed form: one line per query, "id:distance" pairs.
function cliRange(indexFile, queriesFile, radius) {
  const out = runCli(['search', '--radius', String(radius), indexFile, queriesFile]);
  const lines = out.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) =>
    line
      .split(/\s+/)
      .filter(Boolean)
      .map((pair) => {
        const [id, d] = pair.split(':');
        return [Number(id), Math.fround(Number(d))];
      })
  );
}

function assertSameKnn(mine, theirs, label) {
  assert.equal(mine.count, theirs.rows, label);
  assert.deepEqual(Array.from(mine.ids, Number), theirs.ids, `${label}: ids`);
  assert.deepEqual(Array.from(mine.distances), theirs.distances, `${label}: distances`);
}

function assertSameRange(mine, theirs, label) {
  assert.equal(mine.count, theirs.length, label);
  for (let q = 0; q < mine.count; q++) {
    const lo = mine.offsets[q];
    const hi = mine.offsets[q + 1];
    const row = [];
    for (let j = lo; j < hi; j++) row.push([Number(mine.ids[j]), mine.distances[j]]);
    assert.deepEqual(row, theirs[q], `${label}: range row ${q}`);
  }
}

const skip = !cli ? 'the nearkit CLI was not found (set NEARKIT_CLI)' : !manifest ? 'no golden manifest' : false;

for (const c of CASES) {
  test(`cross-language ${c.dataset} ${c.metric}`, { skip }, async (t) => {
    const ds = manifest.datasets[c.dataset];
    assert.ok(ds, `dataset ${c.dataset} is in the manifest`);
    const baseFile = path.join(goldenDir, ds.base);
    const queriesFile = path.join(goldenDir, ds.queries);
    const data = loadDataset(manifest, c.dataset);
    const kinds = nk.kinds().filter((k) => k.metrics.includes(c.metric));
    for (const kind of kinds) {
      await t.test(kind.name, () => {
        const dir = tmpDir('nearkit-xlang-');
        try {
          // CLI -> Node
          const cliFile = path.join(dir, 'cli.nkx');
          runCli(['build', '--kind', kind.name, '--metric', c.metric, baseFile, cliFile]);
          const loaded = nk.Index.load(cliFile);
          assert.equal(loaded.kind, kind.name);
          assert.equal(loaded.metric, c.metric);
          assert.equal(loaded.count, ds.count);
          assertSameKnn(loaded.search(data.queries, c.k), cliKnn(cliFile, queriesFile, c.k, dir), 'CLI-built, searched in Node');
          assertSameRange(loaded.rangeSearch(data.queries, c.radius), cliRange(cliFile, queriesFile, c.radius), 'CLI-built, range in Node');
          loaded.close();

          // Node -> CLI
          const index = new nk.Index({ kind: kind.name, metric: c.metric, dimension: ds.dimension });
          if (kind.needsTraining) index.train(data.base);
          index.add(data.base);
          index.build();
          const nodeFile = path.join(dir, 'node.nkx');
          index.save(nodeFile);
          assertSameKnn(index.search(data.queries, c.k), cliKnn(nodeFile, queriesFile, c.k, dir), 'Node-built, searched by the CLI');
          assertSameRange(index.rangeSearch(data.queries, c.radius), cliRange(nodeFile, queriesFile, c.radius), 'Node-built, range by the CLI');
          const info = runCli(['info', nodeFile]);
          assert.match(info, new RegExp(kind.name));
          index.close();
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  });
}
