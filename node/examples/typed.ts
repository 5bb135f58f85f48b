// Type-checks the shipped declarations (tsc --noEmit --strict); not run.
import { Index, ShardedIndex, mergeKnn, kinds, view, viewBuffer, SearchResult, RangeResult, KindInfo, NearkitError, GetResult, Filter, SearchResultJSON, Vectors, ViewOptions, ShardedOpenOptions } from 'nearkit';

const index = new Index({ kind: 'flat', metric: 'cosine', dimension: 4, numThreads: 1, seed: 7n, params: { numThreads: 1 } });
index.add(new Float32Array(8), [10, 11n]);
const r: SearchResult = index.search(new Float32Array(4), 2, { numThreads: 1 });
const first: bigint = r.ids[0];
const d: number = r.distances[0];
const range: RangeResult = index.rangeSearch(new Float32Array(4), 0.5);
const row: BigInt64Array = range.ids.subarray(range.offsets[0], range.offsets[1]);
const all: KindInfo[] = kinds();
const bytes: Uint8Array = index.toBuffer();
const copy: Index = Index.fromBuffer(bytes);
const p: Promise<SearchResult> = copy.searchAsync(new Float32Array(4), 1);
p.catch((e: NearkitError) => e.code);
const removed: number = index.remove([10n]);
const got: GetResult = index.get(new BigInt64Array([11n]));
const has: boolean = index.contains(11);
const allow: Filter = (id: bigint) => id !== 10n;
index.search(new Float32Array(4), 2, { filter: allow, nprobe: 4, params: { efSearch: 8 } });
index.search(new Float32Array(4), 2, { filter: new Uint8Array(2) });
copy.removeAsync([11]).then((n: number) => n);
index.setParam('numThreads', 2);
const threads: number = index.getParam('num_threads');
const kind: string = index.kind;
// plain arrays: flat number[] or one array (or typed array) per vector
index.add([0, 0, 0, 1, 0, 0, 1, 0], [12, 13]);
index.add([[1, 0, 0, 0], new Float32Array(4)]);
const rows: ReadonlyArray<readonly number[]> = [[1, 2, 3, 4]];
const asVectors: Vectors = rows;
const plain: SearchResult = index.search([[0, 1, 0, 0], [1, 0, 0, 0]], 2, { filter: [12, 13] });
const numbers: Float64Array = plain.idsAsNumbers();
const json: SearchResultJSON = plain.toJSON();
const text: string = JSON.stringify(plain);
const rangeNumbers: Float64Array = index.rangeSearch([0, 0, 1, 0], 0.5).idsAsNumbers();
void index.searchAsync([0, 0, 1, 0], 1).then((r) => r.idsAsNumbers()[0]);
index.close();
copy[Symbol.dispose]();
void [first, d, row, all, threads, kind, removed, got, has, asVectors, numbers, json, text, rangeNumbers];

// sharded collections and merges
const sharded = new ShardedIndex([new Index({ dimension: 4 })], { numThreads: 1 });
sharded.addShard(new Index({ dimension: 4 }));
const merged: SearchResult = mergeKnn([sharded.search(new Float32Array(4), 2), r], 2, { unique: true });
const shardMetric: string | null = sharded.metric;
sharded.save('shards/');
const openOptions: ShardedOpenOptions = { view: true, numThreads: 1 };
ShardedIndex.open('shards/', openOptions).searchAsync([[1, 2, 3, 4]], 1).then((s: SearchResult) => s.count);
sharded.saveAsync('shards/').then(() => ShardedIndex.openAsync('shards/', { numThreads: 2, view: false })).then((s: ShardedIndex) => s.close());
sharded.close();
void [merged, shardMetric];

// read-only views of saved files
const viewOptions: ViewOptions = { verify: true };
const viewed: Index = Index.view('vectors.nkx', viewOptions);
const isView: boolean = viewed.isView;
const writable: Index = view('vectors.nkx').copy();
Index.viewAsync('vectors.nkx', { verify: false }).then((v: Index) => v.copyAsync()).then((c: Index) => c.close());
viewed.close();
// a file saved before views (format version 1) is loaded instead of refused
const either: Index = Index.view('old.nkx', { loadIfUnviewable: true });
either.close();
// bytes already in memory, viewed in place while the index holds them
const inMemory: Index = viewBuffer(new Uint8Array(64), { loadIfUnviewable: true });
Index.viewBufferAsync(new ArrayBuffer(64), { verify: true }).then((v: Index) => v.close());
inMemory.close();
writable.close();
void isView;
