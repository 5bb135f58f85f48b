// TypeScript declarations of the nearkit Node.js package.

declare global {
  // `Symbol.dispose` (ES2026 explicit resource management) for projects whose `lib` does not yet
  // declare it (TypeScript's `esnext.disposable` and @types/node declare it the same way), so that
  // `Index` type-checks with any `lib`; `using` itself needs TypeScript 5.2 or later.
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}

/** Names of index kinds; which exist depends on the library build (see `kinds()`). */
export type KindName = 'flat' | 'vptree' | 'bktree' | 'ivf_flat' | 'mih' | 'ivf_binary' | (string & {});

/** Metric names (`metrics()` lists them). Smaller distances are always nearer. */
export type MetricName = 'l2' | 'l1' | 'linf' | 'cosine' | 'ip' | 'hamming' | (string & {});

/** A file path: a string or a file: URL (any URL object; typed structurally so that no DOM or Node
 * type declarations are needed). */
export type PathLike = string | { readonly href: string; readonly protocol: string };

/** A parameter value; booleans become 1 / 0. */
export type ParamValue = number | bigint | boolean | string;

/**
 * Vectors, row-major and contiguous, borrowed without a copy: a `Float32Array` of
 * `n * dimension` values for float32 indexes, or a `Uint8Array` (a `Buffer` is one) of
 * `n * dimension / 8` bytes of packed bits (least significant bit first) for binary indexes.
 * Float indexes also take float16 vectors: a `Float16Array` where the runtime has one, or a
 * `Uint16Array` of IEEE half bits, widened to float32 by the library (exactly).
 */
export type Vectors = Float32Array | Uint8Array | Uint16Array | VectorArray;

/**
 * Vectors as plain arrays, copied into a `Float32Array` (float indexes) or a `Uint8Array` (binary
 * indexes: bytes, integers from 0 to 255) before the call: either flat and row-major like the typed
 * arrays (`n * dimension` numbers), or one array (or typed array) per vector. A non-number is a
 * `TypeError`, a row of the wrong length or a byte out of range a `RangeError`; NaN and infinities
 * are refused by the library as in typed arrays.
 */
export type VectorArray = ReadonlyArray<number> | ReadonlyArray<ArrayLike<number>>;

/** Ids of added vectors: a `BigInt64Array` is used as is; other arrays of integers are converted. */
export type Ids = BigInt64Array | ReadonlyArray<number | bigint> | ArrayLike<number | bigint>;

export interface IndexOptions {
  /** Index kind, default 'flat'. */
  kind?: KindName;
  /** Metric, default 'l2'. */
  metric?: MetricName;
  /** Floats per vector, or bits per vector (a multiple of 8) for the hamming metric. */
  dimension: number;
  /** Threads for batch work; 0 (the default) uses every core. */
  numThreads?: number;
  /** Seed of randomised builds (trees, k-means). Default 42. */
  seed?: number | bigint;
  /**
   * Kind-specific build parameters by name, in camelCase or the library's snake_case:
   * `{nlist: 1024, leafSize: 32}`. The names `paramInfo()` lists.
   */
  params?: Record<string, ParamValue>;
}

/**
 * Which stored vectors a search may return:
 *  - a `BigInt64Array` or an array of numbers / bigints: the allowed ids (any order; repeats and
 *    ids not stored are fine);
 *  - a `Uint8Array` (a `Buffer` is one): a bitmap, bit i (bit `i % 8` of byte `i / 8`) allows
 *    id i; ids past its end are not allowed;
 *  - a function `(id: bigint) => boolean` (any truthy value allows): the slow path. It runs on
 *    the JavaScript thread: a synchronous search calls it directly (and so runs on one thread);
 *    an asynchronous one asks the JavaScript thread for each stored vector it tests, its search
 *    threads waiting for the answers. While such a search runs, synchronous calls on the same
 *    index (also from inside the function) throw `ERR_NEARKIT_STATE` rather than deadlock. An
 *    exception the function throws becomes the search's error.
 * Exact kinds return exactly what an index of only the allowed vectors would; approximate kinds
 * keep their recall on that truth and return min(k, allowed) neighbours.
 */
export type Filter = BigInt64Array | ReadonlyArray<number | bigint> | Uint8Array | ((id: bigint) => unknown);

/** A per-call parameter value; booleans become 1 / 0. */
export type CallParamValue = number | bigint | boolean;

export interface SearchOptionsBase {
  /** Threads for this call; 0 or absent uses the index's setting. */
  numThreads?: number;
  /** Only the vectors this filter allows (see `Filter`). */
  filter?: Filter | null;
  /**
   * Runtime parameters of this call only, by camelCase or snake_case name (`nprobe`, `efSearch`,
   * `maxRadius`: the settable, non-build parameters `paramInfo()` lists). Other calls and the
   * index's own value are unaffected. The same names may also be given as keys of the options
   * themselves (`{nprobe: 8}`), but not both ways at once. Unknown names reject with
   * ERR_NEARKIT_NOT_FOUND, build-time ones and values out of range with
   * ERR_NEARKIT_INVALID_ARGUMENT.
   */
  params?: Record<string, CallParamValue>;
  /** Common runtime parameters, typed for convenience (the kinds that have them). */
  nprobe?: number;
  efSearch?: number;
  maxRadius?: number;
}

/** Search options: `numThreads`, `filter`, `params`, and any other key names a per-call parameter. */
export type SearchOptions = SearchOptionsBase & { [parameter: string]: CallParamValue | Filter | Record<string, CallParamValue> | null | undefined };

/**
 * Vectors read back by `get(ids)`: row i (`vectorBytes` bytes; `dimension` floats or
 * `dimension / 8` bytes) holds id i's stored vector (cosine: normalised), or zeros where
 * `found[i]` is 0. Where several vectors carry one id, one of them.
 */
export interface GetResult {
  vectors: Float32Array | Uint8Array;
  /** 1 where the id is stored, else 0. */
  found: Uint8Array;
  /** What `JSON.stringify(result)` writes: plain arrays, `found` as booleans. */
  toJSON(): { vectors: number[]; found: boolean[] };
}

/**
 * k-NN results: `count` rows of `k` entries, row i at positions `i * k .. i * k + k - 1`,
 * nearest first, equal distances by increasing id. Where fewer than k vectors exist the missing
 * entries have id -1n and distance Infinity (k may exceed the index's count; a k whose result
 * cannot be held or allocated is a RangeError with code ERR_NEARKIT_OUT_OF_MEMORY).
 *
 * Ids are a `BigInt64Array` because ids are signed 64-bit integers in the library (callers may
 * add any 64-bit id); the arrays are filled by the C library without a conversion. Use
 * `idsAsNumbers()` (all, checked) or `Number(ids[j])` (one, exact below 2^53) where numbers are more
 * convenient; `JSON.stringify(result)` works through `toJSON()`.
 * The synchronous search() gives `ids` and `distances` as views of one ArrayBuffer (ids first):
 * one allocation a call; searchAsync() gives each its own.
 */
export interface SearchResult {
  ids: BigInt64Array;
  distances: Float32Array;
  /** Neighbours per query. */
  k: number;
  /** Number of queries. */
  count: number;
  /**
   * The ids as numbers, in the same layout (missing entries -1). A `RangeError` with code
   * `ERR_OUT_OF_RANGE` if any id is beyond +-(2^53 - 1), where numbers are no longer exact.
   */
  idsAsNumbers(): Float64Array;
  /** What `JSON.stringify(result)` writes (see `SearchResultJSON`). */
  toJSON(): SearchResultJSON;
}

/**
 * A k-NN result as JSON: plain arrays. `ids` are numbers when every id is within +-(2^53 - 1),
 * otherwise all of them are decimal strings; a missing entry's distance (Infinity) is `null`.
 */
export interface SearchResultJSON {
  ids: number[] | string[];
  distances: (number | null)[];
  k: number;
  count: number;
}

/** What tune() measured and set. */
export interface TuneResult {
  /** The runtime parameter tuned ("nprobe", "ef_search"); null for an exact kind. */
  param: string | null;
  /** The value chosen and set on the index (0 for an exact kind). */
  value: number;
  /** recall@k measured on the sample at that value (1 for an exact kind). */
  recall: number;
  /** Queries per second measured at that value (0 for an exact kind). */
  qps: number;
  /** false when no value tried reached the target (the best one is set). */
  reached: boolean;
  /** Number of values measured. */
  measurements: number;
  /**
   * The finer setting chosen with `value` ("max_codes", the IVF kinds' scan budget), set on the
   * index too, where one more step of `param` would jump past the target; null when none (0 set).
   */
  fineParam: string | null;
  /** The finer setting's value (0 when fineParam is null). */
  fineValue: number;
}

/** Limits of a tuning; 0 or absent: none. */
export interface TuneOptions {
  /** Threads of the measuring searches (0: the index's). */
  numThreads?: number;
  /** The largest value tried. */
  maxValue?: number;
  /** Stop measuring after this many seconds and choose among the values measured. */
  maxSeconds?: number;
}

/**
 * Range-search results in the layout of a CSR matrix: query i's matches are
 * `ids.subarray(offsets[i], offsets[i + 1])` with their distances at the same positions, nearest
 * first. `offsets` has `count + 1` entries; it is a Float64Array so that its values index typed
 * arrays directly (exact up to 2^53 matches).
 */
export interface RangeResult {
  offsets: Float64Array;
  ids: BigInt64Array;
  distances: Float32Array;
  /** Number of queries. */
  count: number;
  /** The ids as numbers; a `RangeError` if any is beyond +-(2^53 - 1) (as `SearchResult`'s). */
  idsAsNumbers(): Float64Array;
  /** What `JSON.stringify(result)` writes: plain arrays, ids as in `SearchResultJSON`. */
  toJSON(): RangeResultJSON;
}

export interface RangeResultJSON {
  offsets: number[];
  ids: number[] | string[];
  distances: number[];
  count: number;
}

export interface KindInfo {
  name: KindName;
  /** The library's numeric kind id (as written in index files). */
  id: number;
  /** Results equal the flat index's at default settings. */
  exact: boolean;
  /** Needs train() (or build()) before add() and search(). */
  needsTraining: boolean;
  /** Needs build() after add(), before search(). */
  needsBuild: boolean;
  /** Searches codes of a codec smaller than the vectors (fp16, bf16, sq8, sq4, pq). */
  compressed: boolean;
  /** The raw NEARKIT_KIND_FLAG_* bits. */
  flags: number;
  /** Supported metrics. */
  metrics: MetricName[];
  description: string;
}

export interface ParamInfo {
  /** camelCase name, as `getParam` / `params()` use it. */
  name: string;
  /** The library's snake_case name. */
  nativeName: string;
  /** A statistic: getParam only. */
  readOnly: boolean;
  /** Settable only before training / adding. */
  build: boolean;
  /** Integer valued. */
  integer: boolean;
  /** The runtime setting trading speed for recall (nprobe, efSearch, searchK): what `tune` varies. */
  recall: boolean;
  /** A finer setting under the recall one (max_codes; 0: no limit) that `tune` sets too. */
  recallFine: boolean;
  /** The smallest value `setParam` accepts. */
  minimum: number;
  /** The largest value `setParam` accepts. */
  maximum: number;
  /** The value of a new index; null for a read-only statistic. */
  default: number | null;
  /** One line from the library, e.g. what 0 means. */
  description: string;
}

/**
 * Errors thrown (or rejected) by nearkit. `code` is `ERR_NEARKIT_<STATUS>` for failures the C
 * library reports (`ERR_NEARKIT_INVALID_ARGUMENT`, `ERR_NEARKIT_OUT_OF_MEMORY`, `ERR_NEARKIT_IO`,
 * `ERR_NEARKIT_CORRUPT`, `ERR_NEARKIT_UNSUPPORTED`, `ERR_NEARKIT_STATE`, `ERR_NEARKIT_NOT_FOUND`,
 * `ERR_NEARKIT_INTERNAL`), `ERR_NEARKIT_CLOSED` for use after close(), and `ERR_INVALID_ARG_TYPE`
 * (on a `TypeError`) for arguments of the wrong JavaScript type.
 */
export interface NearkitError extends Error {
  code: string;
}

/** Options of `Index.view`. */
export interface ViewOptions {
  /**
   * Check the file's checksum over every byte and every stored value, as a load does (reads the
   * whole file once). Default false: the header and section table only, every length bounded by
   * the file.
   */
  verify?: boolean;
  /**
   * When the bytes' layout cannot be used in place (a format version 1 file, a buffer not starting
   * at a 64-byte boundary), load them instead of throwing `ERR_NEARKIT_UNSUPPORTED`: the index is
   * then not a view (`isView` is false, it is writable). A damaged file still throws
   * `ERR_NEARKIT_CORRUPT`. Default false.
   */
  loadIfUnviewable?: boolean;
}

/**
 * A nearest-neighbour index. Synchronous methods run on the calling thread; the `...Async`
 * methods run on the libuv thread pool and return Promises. Searches run concurrently with each
 * other; a writer (add, remove, train, build, compact, setParam) runs alone, and each search sees
 * the collection before or after it, whole (a synchronous call waits for a running asynchronous
 * writer). Operations issued without awaiting may run in any order.
 */
export class Index {
  constructor(options: IndexOptions);

  /** Loads an index file (written by any nearkit package or the CLI). */
  static load(path: PathLike): Index;
  static loadAsync(path: PathLike): Promise<Index>;
  /**
   * Opens a read-only view of an index file: the file is mapped (shared through the page cache
   * with every process viewing it) and searched in place instead of read into memory. Opening
   * reads the header and section table only, unless `verify`. Writes (add, remove, train, build,
   * compact, a build parameter) throw `ERR_NEARKIT_STATE`; runtime parameters stay settable;
   * `copy()` gives a writable index. Do not truncate or rewrite the file in place while it is
   * viewed (`save()` renames a new file over it, which the view survives).
   */
  static view(path: PathLike, options?: ViewOptions): Index;
  /** `Index.view` on the thread pool (worth it with `verify`, which reads the whole file). */
  static viewAsync(path: PathLike, options?: ViewOptions): Promise<Index>;
  /**
   * A read-only view of a saved index's bytes in memory, searched in place; the index references
   * their ArrayBuffer until it is closed. The bytes must start at a 64-byte boundary (or see
   * `loadIfUnviewable`) and must not change while viewed; detaching the ArrayBuffer ends the view.
   */
  static viewBuffer(buffer: ArrayBufferView | ArrayBuffer, options?: ViewOptions): Index;
  static viewBufferAsync(buffer: ArrayBufferView | ArrayBuffer, options?: ViewOptions): Promise<Index>;
  /** Loads an index from the bytes `toBuffer()` returns (or of an index file). */
  static fromBuffer(buffer: ArrayBufferView | ArrayBuffer): Index;
  static fromBufferAsync(buffer: ArrayBufferView | ArrayBuffer): Promise<Index>;

  readonly kind: KindName;
  readonly metric: MetricName;
  /** Floats per vector, or bits per vector for binary indexes. */
  readonly dimension: number;
  readonly vectorType: 'float32' | 'binary';
  /** Bytes one vector occupies. */
  readonly vectorBytes: number;
  /** Number of vectors stored. */
  readonly count: number;
  /** Heap memory the index holds, in bytes. */
  readonly memoryBytes: number;
  /** The index can be searched (trained and built as its kind needs). */
  readonly isReady: boolean;
  readonly closed: boolean;
  /** This index is a read-only view of a file (`Index.view`). */
  readonly isView: boolean;
  /** A new, writable in-memory index equal to this one (a view or not), independent of it. */
  copy(): Index;
  /** `copy()` on the thread pool; searches go on meanwhile. */
  copyAsync(): Promise<Index>;

  /** A human-readable description: kind, metric, sizes, parameters. */
  describe(): string;

  /** Adds vectors; ids default to insertion order (the i-th vector ever added gets id i). */
  add(vectors: Vectors, ids?: Ids | null): void;
  /** Copies `vectors` and `ids` before it is queued: the caller may reuse or detach them at once. */
  addAsync(vectors: Vectors, ids?: Ids | null): Promise<void>;
  /** Trains kinds that learn from data (a no-op for the others). */
  train(vectors: Vectors): void;
  trainAsync(vectors: Vectors): Promise<void>;
  /** Makes everything added searchable (builds trees, trains where needed). Idempotent. */
  build(): void;
  buildAsync(): Promise<void>;

  /** The k nearest neighbours of each query. */
  search(queries: Vectors, k: number, options?: SearchOptions): SearchResult;
  /** As search(), on the thread pool; `queries` and an id or bitmap filter are copied first (the
   * caller may reuse them at once). */
  searchAsync(queries: Vectors, k: number, options?: SearchOptions): Promise<SearchResult>;
  /** Every stored vector within `radius` of each query. */
  rangeSearch(queries: Vectors, radius: number, options?: SearchOptions): RangeResult;
  rangeSearchAsync(queries: Vectors, radius: number, options?: SearchOptions): Promise<RangeResult>;
  /**
   * Finds and sets the cheapest runtime setting (nprobe for ivf kinds, ef_search for hnsw) whose
   * recall@k on the sample `queries` reaches `targetRecall` (in (0, 1]), against the exact
   * neighbours of the index's own vectors. Exact kinds return at once (param null, recall 1).
   * An empty or unbuilt index throws ERR_NEARKIT_STATE.
   */
  tune(queries: Vectors, k?: number, targetRecall?: number, options?: TuneOptions): TuneResult;
  /** As tune(), on the thread pool; `queries` are copied first. */
  tuneAsync(queries: Vectors, k?: number, targetRecall?: number, options?: TuneOptions): Promise<TuneResult>;

  /**
   * Removes every vector carrying one of `ids` (ids not stored and repeats are ignored); returns
   * how many were removed. Searches no longer see them at once; the space is reclaimed as the
   * kind does it, at the latest on compact(). A removed id may be added again. Kinds that cannot
   * remove yet throw ERR_NEARKIT_UNSUPPORTED.
   */
  remove(ids: Ids): number;
  /** As remove(), on the thread pool; `ids` is copied first. */
  removeAsync(ids: Ids): Promise<number>;
  /** The stored vectors of `ids` (see `GetResult`). */
  get(ids: Ids): GetResult;
  getAsync(ids: Ids): Promise<GetResult>;
  /** true when some stored vector carries `id`. */
  contains(id: number | bigint): boolean;
  /** Reclaims the space of removed vectors and finishes rebuilds the kind deferred. Never needed
   * for correct results. */
  compact(): void;
  compactAsync(): Promise<void>;

  /** Writes the index to a file (replaced if it exists). */
  save(path: PathLike): void;
  saveAsync(path: PathLike): Promise<void>;
  /** The index serialised in the file format, as a Node.js Buffer (declared as its base class
   * Uint8Array so that the declarations need no Node type package). */
  toBuffer(): Uint8Array;

  /** Reads a named parameter (camelCase or snake_case name). */
  getParam(name: string): number;
  /** Sets a named parameter (camelCase or snake_case name). */
  setParam(name: string, value: number): void;
  /** Every named parameter of this index, with its range, default and description. */
  paramInfo(): ParamInfo[];
  /** Every named parameter with its value, by camelCase name. */
  params(): Record<string, number>;

  /**
   * Releases the index; idempotent. Later calls throw (or reject with) ERR_NEARKIT_CLOSED.
   * Asynchronous operations already queued finish normally; the memory is released when the
   * last of them completes. An index that is never closed is released when garbage-collected.
   * Where the runtime defines `Symbol.dispose`, `using index = new Index(...)` closes it too.
   */
  close(): void;
  /** close(): `using index = new Index(...)` closes the index at the end of the block. Defined
   * where the runtime has `Symbol.dispose` (Node.js 18.18 / 20.4 and later). */
  [Symbol.dispose](): void;
}

/**
 * One part of a merge: `k` entries per query, row i at `i * k .. i * k + k - 1`, padded with id
 * -1 and distance Infinity. A `SearchResult` is one; plain arrays are converted.
 */
export interface KnnPart {
  ids: BigInt64Array | ReadonlyArray<number | bigint>;
  distances: Float32Array | ReadonlyArray<number>;
  /** Entries per query row, at least 1. */
  k: number;
}

export interface MergeOptions {
  /** Count an id found by several parts once, at its least distance. Default false. */
  unique?: boolean;
}

/**
 * The `k` nearest per query of answers to the same queries computed apart (one per shard, or per
 * machine), ordered exactly as one search over their union: nearest first, equal distances by
 * smaller id, padded. Every part must answer the same number of queries; parts may differ in k.
 * The merge is the C library's (`nearkit_merge_knn`). Wrong lengths, k = 0 and NaN distances
 * throw ERR_NEARKIT_INVALID_ARGUMENT; values of the wrong type a TypeError.
 */
export function mergeKnn(parts: ReadonlyArray<KnnPart>, k: number, options?: MergeOptions): SearchResult;

export interface ShardedIndexOptions {
  /** Threads of a search's fan-out when the call gives none; 0 (the default) uses every core. */
  numThreads?: number;
}

export interface ShardedOpenOptions extends ShardedIndexOptions {
  /**
   * Open every shard file as a read-only view (as `Index.view`, unverified) instead of reading
   * it: the file is mapped, so the processes serving one directory share its pages through the
   * page cache, and opening costs little whatever its size. Default false (loaded).
   */
  view?: boolean;
}

/**
 * Indexes (shards) of any kind searched as one collection (`nearkit_sharded_*`, experimental in
 * the C library): every search runs on each shard and the per-shard top k are merged by the
 * library, so flat shards answer exactly as one flat index over the union (ids, distances, tie
 * order). Ids are global: each vector keeps the id it has in its shard, so keep them unique
 * across shards. Every shard has the first shard's metric, dimension and vector type. Searches
 * run concurrently; saved as a directory (one index file per shard and `manifest.json`) that
 * every nearkit package opens.
 */
export class ShardedIndex {
  /**
   * A collection of `shards` (none by default), each handed over as by `addShard`. If one is
   * refused, the collection is closed with the shards already taken and the error thrown; the
   * refused index and the later ones stay open.
   */
  constructor(shards?: ReadonlyArray<Index> | null, options?: ShardedIndexOptions);
  /** Opens a collection `save()` wrote (here or in any other nearkit package), each shard file
   * checked against its manifest entry. Missing files throw ERR_NEARKIT_IO, a manifest that is
   * not one (or a shard unlike its entry) ERR_NEARKIT_CORRUPT. */
  static open(path: PathLike, options?: ShardedOpenOptions): ShardedIndex;
  /** As open(), on the thread pool. */
  static openAsync(path: PathLike, options?: ShardedOpenOptions): Promise<ShardedIndex>;

  /**
   * Appends `index` as the next shard. The collection takes the index over without a copy: on
   * success the `Index` is closed (its later use throws ERR_NEARKIT_CLOSED) and its memory is
   * released with the collection; on failure (a metric, dimension or vector type unlike the first
   * shard's: ERR_NEARKIT_INVALID_ARGUMENT) it stays open and yours. An index with asynchronous
   * operations in flight throws ERR_NEARKIT_STATE.
   */
  addShard(index: Index): void;

  readonly shardCount: number;
  /** Vectors of every shard together. */
  readonly count: number;
  /** The shards' dimension; 0 before the first shard. */
  readonly dimension: number;
  /** The shards' metric; null before the first shard. */
  readonly metric: MetricName | null;
  readonly vectorType: 'float32' | 'binary' | null;
  /** Heap memory of every shard together, in bytes. */
  readonly memoryBytes: number;
  readonly closed: boolean;

  /**
   * The k nearest of every shard's vectors for each query, as `Index.search` returns them. Options
   * as `Index.search`'s (per-call parameters go to every shard), but the filter must be an id list
   * or a bitmap: a function filter is a TypeError. No shard yet: ERR_NEARKIT_STATE.
   */
  search(queries: Vectors, k: number, options?: SearchOptions): SearchResult;
  /** As search(), on the thread pool; `queries` and the filter are copied first. */
  searchAsync(queries: Vectors, k: number, options?: SearchOptions): Promise<SearchResult>;
  /** Writes the collection to the directory `path` (created if missing): `shard-NNNNN.nkx` per
   * shard, then `manifest.json`. No shard: ERR_NEARKIT_INVALID_ARGUMENT. */
  save(path: PathLike): void;
  /** As save(), on the thread pool. */
  saveAsync(path: PathLike): Promise<void>;

  /** Releases the collection and its shards; idempotent. Searches already queued finish first. */
  close(): void;
  /** close(), for `using` (where the runtime has `Symbol.dispose`). */
  [Symbol.dispose](): void;
}

/** Every index kind compiled into the library. */
/** `Index.view(path, options)`: a read-only view of an index file. */
export function view(path: PathLike, options?: ViewOptions): Index;
/** `Index.viewBuffer(buffer, options)`: a read-only view of an index's bytes in memory. */
export function viewBuffer(buffer: ArrayBufferView | ArrayBuffer, options?: ViewOptions): Index;

export function kinds(): KindInfo[];
/** Every metric name the library knows. */
export function metrics(): MetricName[];
/** The library's version, "MAJOR.MINOR.PATCH". */
export const version: string;
/** The version as MAJOR * 10000 + MINOR * 100 + PATCH. */
export const versionNumber: number;
/** The C ABI version the library was built with. */
export const abiVersion: number;
