'use strict';
// A search with the portable npm package (ci/check_portable_natives.sh, ci/release_portable.sh
// under qemu-aarch64): flat and hnsw find each query's own vector first. Copy this file into the
// directory whose node_modules/ holds nearkit and run it there.
const { Index, version } = require('nearkit');
const n = 2000, dim = 16;
const x = new Float32Array(n * dim);
let seed = 1;
for (let i = 0; i < x.length; i++) { seed = (seed * 1103515245 + 12345) % 2147483648; x[i] = seed / 2147483648; }
for (const kind of ['flat', 'hnsw']) {
  const index = new Index({ kind, metric: 'l2', dimension: dim });
  index.add(x);
  index.build();
  const r = index.search(x.subarray(0, 50 * dim), 3);
  for (let q = 0; q < 50; q++) {
    if (Number(r.ids[q * 3]) !== q) throw new Error(`${kind}: query ${q} found ${r.ids[q * 3]}`);
  }
  index.close();
}
console.log('the portable npm package searches: nearkit', version, 'from', require.resolve('nearkit'));
