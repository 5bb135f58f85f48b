'use strict';
// A small program using the installed nearkit package (CommonJS).
const os = require('os');
const path = require('path');
const fs = require('fs');
const { Index, kinds, version } = require('nearkit');

async function main() {
  console.log(`nearkit ${version}; kinds: ${kinds().map((k) => k.name).join(', ')}`);

  // 1000 vectors of dimension 8 on a regular pattern; vector i is near vector i + 1.
  const dim = 8;
  const n = 1000;
  const vectors = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) vectors[i * dim + j] = Math.sin(i * 0.01 + j);

  const index = new Index({ kind: 'flat', metric: 'l2', dimension: dim, numThreads: 1 });
  index.add(vectors);
  index.build();

  // The nearest neighbours of vector 500 are 500 itself, then 499 and 501.
  const query = vectors.subarray(500 * dim, 501 * dim);
  const { ids, distances } = index.search(query, 3);
  console.log(`nearest to vector 500: ${Array.from(ids).join(' ')} (distance ${distances[0]})`);

  // Many queries at once on the thread pool, without blocking the event loop.
  const batch = await index.searchAsync(vectors.subarray(0, 10 * dim), 1);
  console.log(`async batch: ${batch.count} queries, first ids ${Array.from(batch.ids.subarray(0, 3)).join(' ')}`);

  const within = index.rangeSearch(query, 0.02);
  console.log(`within 0.02 of vector 500: ${within.ids.length} vectors`);

  // Save, load, and search the copy.
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nearkit-example-')), 'example.nkx');
  index.save(file);
  const copy = Index.load(file);
  console.log(`loaded copy: ${copy.count} vectors, same answer: ${copy.search(query, 1).ids[0] === ids[0]}`);
  copy.close();
  index.close();
  fs.rmSync(path.dirname(file), { recursive: true, force: true });

  try {
    index.search(query, 1);
  } catch (e) {
    console.log(`after close: ${e.code}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
