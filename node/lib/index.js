'use strict';
// nearkit for Node.js: the JavaScript face of the native addon (src/nearkit_node.c).
//
// This file only shapes arguments (option objects, camelCase names, URL paths, id arrays) and
// results; every search, every check of meaning and all file handling happens in the C library.

const { fileURLToPath } = require('url');
const util = require('util');
const native = require('./binding');

const HANDLE = Symbol('nearkit.handle');
// Index[HANDLE_OF](index): an Index's native handle, for ShardedIndex.addShard (module-private).
const HANDLE_OF = Symbol('nearkit.handleOf');

function codedError(Ctor, code, message) {
  const error = new Ctor(message);
  error.code = code;
  return error;
}

function invalidArgument(message) {
  return codedError(Error, 'ERR_NEARKIT_INVALID_ARGUMENT', message);
}

function typeError(message) {
  return codedError(TypeError, 'ERR_INVALID_ARG_TYPE', message);
}

function rangeError(message) {
  return codedError(RangeError, 'ERR_OUT_OF_RANGE', message);
}

// A Float16Array (where the runtime has one) goes to the addon as float16 bits: a Uint16Array view
// of the same memory, no copy; the library widens the halves to float32. A plain array is copied
// into the typed array the index takes (arrayVectors). Anything else as given (the addon reports
// the type error).
const Float16 = globalThis.Float16Array;
function toVectors(v, info, what) {
  if (Array.isArray(v)) return arrayVectors(v, info, what);
  return Float16 !== undefined && v instanceof Float16 ? new Uint16Array(v.buffer, v.byteOffset, v.length) : v;
}

// Describes what a plain array held where a number was expected.
function kindOf(x) {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}

// Copies the plain array `src` (or a typed array row) into `out` from `at`. Only the JavaScript
// type is checked here (and, for bytes, that the value is one: a Uint8Array would wrap 256 to 0
// silently); values such as NaN go on to the library, which refuses them as it does in a typed
// array. Errors name the element as what[i], or what[row][i] for a row (row >= 0).
function copyNumbers(out, at, src, binary, what, row) {
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const x = src[i];
    if (typeof x !== 'number' || (binary && (x & 255) !== x)) {
      const where = row < 0 ? `${what}[${i}]` : `${what}[${row}][${i}]`;
      if (typeof x !== 'number') throw typeError(`${where} must be a number, got ${kindOf(x)}`);
      throw rangeError(`${where} must be a byte (an integer from 0 to 255), got ${x}`);
    }
    out[at + i] = x;
  }
}

function isRow(x) {
  return Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView));
}

// number[] (row-major, like the typed arrays: n * dimension values, or n * dimension / 8 bytes of
// packed bits for binary indexes) or an array of rows (each a number[] or typed array of one
// vector) -> a Float32Array or a Uint8Array. A flat array's length is checked by the addon, as for
// typed arrays; a row's here.
function arrayVectors(array, info, what) {
  const binary = info.vectorType === 'binary';
  const n = array.length;
  if (n === 0 || !isRow(array[0])) {
    const out = binary ? new Uint8Array(n) : new Float32Array(n);
    copyNumbers(out, 0, array, binary, what, -1);
    return out;
  }
  const width = binary ? info.vectorBytes : info.dimension;
  const out = binary ? new Uint8Array(n * width) : new Float32Array(n * width);
  for (let r = 0; r < n; r++) {
    const row = array[r];
    if (!isRow(row)) throw typeError(`${what}[${r}] must be an array of numbers like ${what}[0], got ${kindOf(row)}`);
    if (row.length !== width) {
      throw rangeError(`${what}[${r}] has ${row.length} values; a vector of this index has ${width}${binary ? ' (bytes of packed bits)' : ''}`);
    }
    copyNumbers(out, r * width, row, binary, what, r);
  }
  return out;
}

// Parameter names: the C library uses snake_case ("leaf_size"); JavaScript callers may use either
// that or camelCase ("leafSize").
function toNativeName(name) {
  if (typeof name !== 'string') throw typeError('a parameter name must be a string');
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) {
    throw invalidArgument(`invalid parameter name ${JSON.stringify(name)}`);
  }
  // an upper-case letter after a lower-case one or a digit starts a word ("leafSize"); names that
  // are upper case in the library itself ("M") stay as they are
  return name.replace(/([a-z0-9])([A-Z])/g, (_, before, c) => before + '_' + c.toLowerCase());
}

// The parameter names of searches, converted once each: a search with per-call parameters names
// the same few every time, and converting them is most of what its options cost. Bounded, so that
// a caller inventing names cannot grow it without end.
const NATIVE_NAMES = new Map();
const NATIVE_NAMES_MAX = 256;
function cachedNativeName(name) {
  let nativeName = NATIVE_NAMES.get(name);
  if (nativeName === undefined) {
    nativeName = toNativeName(name);
    if (NATIVE_NAMES.size < NATIVE_NAMES_MAX) NATIVE_NAMES.set(name, nativeName);
  }
  return nativeName;
}

function toJsName(name) {
  return name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

function formatParamValue(name, value) {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw invalidArgument(`parameter ${name} must be finite, got ${value}`);
      return String(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? '1' : '0';
    case 'string':
      if (value === '' || /[\s,=]/.test(value)) {
        throw invalidArgument(`parameter ${name} has an invalid value ${JSON.stringify(value)}`);
      }
      return value;
    default:
      throw typeError(`parameter ${name} must be a number, bigint, boolean or string`);
  }
}

// {leafSize: 32, nprobe: 4} -> "leaf_size=32,nprobe=4", the params string of nearkit_index_options.
function paramsString(params) {
  if (params === undefined || params === null) return null;
  if (typeof params === 'string') return params;
  if (typeof params !== 'object' || Array.isArray(params)) {
    throw typeError('options.params must be an object of name: value pairs');
  }
  return Object.keys(params)
    .map((name) => `${toNativeName(name)}=${formatParamValue(name, params[name])}`)
    .join(',');
}

function optionalCount(value, what) {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' && typeof value !== 'bigint') throw typeError(`${what} must be a number`);
  return value;
}

function toPath(p) {
  if (p instanceof URL) return fileURLToPath(p);
  if (typeof p !== 'string') throw typeError('path must be a string or a file: URL');
  return p;
}

function toIds(ids) {
  if (ids === undefined || ids === null || ids instanceof BigInt64Array) return ids;
  if (Array.isArray(ids) || (ArrayBuffer.isView(ids) && !(ids instanceof DataView))) {
    const out = new BigInt64Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const v = ids[i];
      if (typeof v === 'bigint') out[i] = v;
      else if (typeof v === 'number' && Number.isSafeInteger(v)) out[i] = BigInt(v);
      else throw invalidArgument(`ids[${i}] is not an integer: ${String(v)}`);
      if (out[i] !== BigInt(v)) throw invalidArgument(`ids[${i}] does not fit in a signed 64-bit integer`);
    }
    return out;
  }
  return ids; // the addon reports the type error
}

// One id (contains): a bigint, or a number that is a safe integer.
function toId(id) {
  if (typeof id === 'bigint') return id;
  if (typeof id === 'number') {
    if (!Number.isSafeInteger(id)) throw invalidArgument(`id is not an integer: ${String(id)}`);
    return BigInt(id);
  }
  throw typeError('id must be an integer (a number or a bigint)');
}

// Ids of remove / get: required, any length.
function toIdList(ids) {
  if (ids === undefined || ids === null) throw typeError('ids must be a BigInt64Array or an array of integers');
  return toIds(ids);
}

// options.filter -> what the addon takes: a BigInt64Array of allowed ids, a Uint8Array bitmap (bit
// i allows id i; a Buffer is one) or a function id => boolean.
function toFilter(filter) {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter === 'function' || filter instanceof BigInt64Array || filter instanceof Uint8Array) return filter;
  if (Array.isArray(filter)) return toIds(filter);
  throw typeError('options.filter must be a BigInt64Array or an array of ids, a Uint8Array bitmap or a function id => boolean');
}

function paramNumber(name, value) {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw invalidArgument(`parameter ${name} must be finite, got ${value}`);
      return value;
    case 'bigint':
      return Number(value);
    case 'boolean':
      return value ? 1 : 0;
    default:
      throw typeError(`parameter ${name} must be a number, bigint or boolean`);
  }
}

// An options object of `what` holding only `keys` (a typo is an error, not silently ignored);
// false when the options are left out.
function checkOptionKeys(options, keys, what, example) {
  if (options === undefined || options === null) return false;
  if (typeof options !== 'object' || Array.isArray(options)) throw typeError(`${what} options must be an object such as ${example}`);
  for (const key of Object.keys(options)) {
    if (!keys.has(key)) throw invalidArgument(`unknown ${what} option ${JSON.stringify(key)}`);
  }
  return true;
}

const VIEW_KEYS = new Set(['verify', 'loadIfUnviewable']);

// view(path, {verify, loadIfUnviewable}) -> [verify, loadIfUnviewable], false when left out.
function viewFlags(options) {
  if (!checkOptionKeys(options, VIEW_KEYS, 'view', '{verify: true}')) return [false, false];
  return ['verify', 'loadIfUnviewable'].map((key) => {
    if (options[key] === undefined) return false;
    if (typeof options[key] !== 'boolean') throw typeError(`options.${key} must be a boolean`);
    return options[key];
  });
}

const SEARCH_KEYS = new Set(['numThreads', 'filter', 'params']);

// Appends one per-call parameter to the names and values the addon takes (undefined: left out).
function addCallParam(names, values, name, value) {
  if (value === undefined) return;
  const nativeName = cachedNativeName(name);
  if (names.includes(nativeName)) throw invalidArgument(`parameter ${name} is given twice`);
  names.push(nativeName);
  values.push(paramNumber(name, value));
}

// Search options -> [numThreads, filter, paramNames, paramValues] for the addon (an array: the
// addon reads it by index, cheaper than by property name). Every key but numThreads, filter and
// params names a parameter of this call (nprobe, efSearch, maxRadius...), as does every key of
// options.params; the library checks the names and values.
function searchOptions(options) {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object' || Array.isArray(options)) throw typeError('search options must be an object');
  const paramNames = [];
  const paramValues = [];
  for (const key in options) {
    if (Object.hasOwn(options, key) && !SEARCH_KEYS.has(key)) addCallParam(paramNames, paramValues, key, options[key]);
  }
  const { params } = options;
  if (params !== undefined && params !== null) {
    if (typeof params !== 'object' || Array.isArray(params)) {
      throw typeError('options.params must be an object of name: value pairs');
    }
    for (const key of Object.keys(params)) addCallParam(paramNames, paramValues, key, params[key]);
  }
  return [optionalCount(options.numThreads, 'options.numThreads'), toFilter(options.filter), paramNames, paramValues];
}

// Result ids as numbers: a Float64Array, exact because every id is checked to be within
// +-(2^53 - 1); a RangeError otherwise. (Number() of an id beyond that rounds to a magnitude of
// at least 2^53, which is not a safe integer: one test on the converted value suffices.)
function idsAsNumbers(ids) {
  const n = ids.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const id = Number(ids[i]);
    if (!Number.isSafeInteger(id)) {
      throw rangeError(`id ${ids[i]} (ids[${i}]) is beyond 2^53 - 1, where numbers are no longer exact; use the BigInt64Array ids`);
    }
    out[i] = id;
  }
  return out;
}

// Result ids for JSON: an array of numbers when every id is within +-(2^53 - 1), else an array
// of decimal strings (all of them, so that a reader sees one type).
function idsToJSON(ids) {
  const n = ids.length;
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const id = Number(ids[i]);
    if (!Number.isSafeInteger(id)) return Array.from(ids, String);
    out[i] = id;
  }
  return out;
}

// The addon returns [ids, distances] / [offsets, ids, distances]; the result objects are made here.
// Classes rather than object literals only for their prototype methods (idsAsNumbers, toJSON):
// the fields are the same own data properties.
class SearchResult {
  constructor(ids, distances, k, count) {
    this.ids = ids;
    this.distances = distances;
    this.k = k;
    this.count = count;
  }

  idsAsNumbers() {
    return idsAsNumbers(this.ids);
  }

  // JSON has no Infinity: the distance of a missing entry (id -1) becomes null, as JSON.stringify
  // writes every non-finite number.
  toJSON() {
    return { ids: idsToJSON(this.ids), distances: Array.from(this.distances), k: this.k, count: this.count };
  }
}

class RangeResult {
  constructor(offsets, ids, distances, count) {
    this.offsets = offsets;
    this.ids = ids;
    this.distances = distances;
    this.count = count;
  }

  idsAsNumbers() {
    return idsAsNumbers(this.ids);
  }

  toJSON() {
    return { offsets: Array.from(this.offsets), ids: idsToJSON(this.ids), distances: Array.from(this.distances), count: this.count };
  }
}

// From the addon's [ids, distances], or from one ArrayBuffer holding the ids (int64) and then the
// distances (float32) of every entry (the synchronous search).
function knnResult(pair, k) {
  const kk = Number(k);
  if (pair instanceof ArrayBuffer) {
    const entries = pair.byteLength / 12;
    return new SearchResult(new BigInt64Array(pair, 0, entries), new Float32Array(pair, entries * 8, entries), kk, entries / kk);
  }
  const ids = pair[0];
  return new SearchResult(ids, pair[1], kk, ids.length / kk);
}

class GetResult {
  constructor(vectors, found) {
    this.vectors = vectors;
    this.found = found;
  }

  // Typed arrays stringify as objects keyed by index: plain arrays instead, found as booleans.
  toJSON() {
    return { vectors: Array.from(this.vectors), found: Array.from(this.found, Boolean) };
  }
}

function getResult(pair) {
  return new GetResult(pair[0], pair[1]);
}

function rangeResult(triple) {
  const offsets = triple[0];
  return new RangeResult(offsets, triple[1], triple[2], offsets.length - 1);
}

// Runs fn and turns a synchronous throw into a rejected promise, so that the *Async methods always
// report errors the same way.
function promised(fn) {
  try {
    return fn();
  } catch (error) {
    return Promise.reject(error);
  }
}

const TUNE_KEYS = new Set(['numThreads', 'maxValue', 'maxSeconds']);

function tuneOptions(options) {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object' || Array.isArray(options)) throw typeError('tune options must be an object');
  for (const key of Object.keys(options)) {
    if (!TUNE_KEYS.has(key)) throw invalidArgument(`unknown tune option ${key} (expected numThreads, maxValue, maxSeconds)`);
  }
  return options;
}

const OPTION_KEYS = new Set(['kind', 'metric', 'dimension', 'numThreads', 'seed', 'params']);

class Index {
  #h;
  #info;

  // The native handle of an Index; a TypeError for any other receiver (e.g. a method borrowed
  // with call()).
  static #of(self) {
    if (typeof self !== 'object' || self === null || !(#h in self)) {
      throw typeError('the receiver is not a nearkit Index');
    }
    return self.#h;
  }

  static [HANDLE_OF](self) {
    return Index.#of(self);
  }

  /**
   * new Index({kind: 'flat', metric: 'l2', dimension: 128, numThreads: 0, seed: 42, params: {...}})
   */
  constructor(options) {
    if (options === HANDLE) {
      this.#h = arguments[1]; // from load/fromBuffer
    } else {
      if (options === null || typeof options !== 'object') {
        throw typeError('new Index(options): options must be an object such as {kind, metric, dimension}');
      }
      for (const key of Object.keys(options)) {
        if (!OPTION_KEYS.has(key)) throw invalidArgument(`unknown index option ${JSON.stringify(key)}`);
      }
      const kind = options.kind === undefined ? 'flat' : options.kind;
      const metric = options.metric === undefined ? 'l2' : options.metric;
      if (options.dimension === undefined) throw invalidArgument('options.dimension is required');
      // numThreads and seed left out keep the library's defaults (nearkit_index_options_init).
      this.#h = native.create(kind, metric, options.dimension, options.numThreads, options.seed, paramsString(options.params));
    }
    this.#info = native.info(this.#h);
  }

  /** Loads an index file written by save() here or by any other nearkit package or the CLI. */
  static load(path) {
    return new Index(HANDLE, native.load(toPath(path)));
  }

  /**
   * Opens a read-only view of an index file: the file is mapped (shared through the page cache with
   * every process viewing it) and searched in place, not read into memory. Writes throw
   * ERR_NEARKIT_STATE; runtime parameters stay settable; copy() gives a writable index.
   * options.verify: check the whole file (its checksum and values) as load() does.
   * options.loadIfUnviewable: a file whose layout cannot be used in place (format version 1) is
   * loaded instead of refused with ERR_NEARKIT_UNSUPPORTED (then isView is false).
   */
  static view(path, options) {
    return new Index(HANDLE, native.view(toPath(path), ...viewFlags(options)));
  }

  /** Index.view on the thread pool (worth it with {verify: true}, which reads the whole file). */
  static viewAsync(path, options) {
    return promised(() => native.viewAsync(toPath(path), ...viewFlags(options)).then((h) => new Index(HANDLE, h)));
  }

  /**
   * A read-only view of a saved index's bytes in memory (a Buffer, typed array, DataView or
   * ArrayBuffer), searched in place: the index references their ArrayBuffer until it is closed
   * or collected. The bytes must start at a 64-byte boundary (ERR_NEARKIT_UNSUPPORTED otherwise,
   * or with options.loadIfUnviewable a load of them, which keeps no reference) and must not change
   * while the view is open; detaching (transferring) the ArrayBuffer ends the view: its calls then
   * throw ERR_NEARKIT_STATE.
   */
  static viewBuffer(buffer, options) {
    return new Index(HANDLE, native.viewBuffer(buffer, ...viewFlags(options)));
  }

  /** Index.viewBuffer on the thread pool (worth it with {verify: true}). */
  static viewBufferAsync(buffer, options) {
    return promised(() => native.viewBufferAsync(buffer, ...viewFlags(options)).then((h) => new Index(HANDLE, h)));
  }

  static loadAsync(path) {
    return promised(() => native.loadAsync(toPath(path)).then((h) => new Index(HANDLE, h)));
  }

  /** Loads an index from bytes made by toBuffer() (or the bytes of an index file). */
  static fromBuffer(buffer) {
    return new Index(HANDLE, native.loadBuffer(buffer));
  }

  static fromBufferAsync(buffer) {
    return promised(() => native.loadBufferAsync(buffer).then((h) => new Index(HANDLE, h)));
  }

  get kind() {
    return this.#info.kind;
  }

  get metric() {
    return this.#info.metric;
  }

  /** Floats per vector, or bits per vector for binary indexes. */
  get dimension() {
    return this.#info.dimension;
  }

  /** 'float32' (Float32Array input) or 'binary' (Uint8Array input, packed bits). */
  get vectorType() {
    return this.#info.vectorType;
  }

  /** Bytes one vector occupies. */
  get vectorBytes() {
    return this.#info.vectorBytes;
  }

  /** Number of vectors stored. */
  get count() {
    return native.count(Index.#of(this));
  }

  get memoryBytes() {
    return native.stats(Index.#of(this)).memoryBytes;
  }

  /** true when the index can be searched (trained and built as its kind needs). */
  get isReady() {
    return native.stats(Index.#of(this)).ready;
  }

  /** true for a read-only view of a file (Index.view). */
  get isView() {
    return native.isView(Index.#of(this));
  }

  /** A new, writable in-memory index equal to this one (a view or not), independent of it. */
  copy() {
    return new Index(HANDLE, native.copy(Index.#of(this)));
  }

  /** copy() on the thread pool; searches go on meanwhile. */
  copyAsync() {
    return promised(() => native.copyAsync(Index.#of(this)).then((h) => new Index(HANDLE, h)));
  }

  get closed() {
    return native.isClosed(Index.#of(this));
  }

  describe() {
    return native.describe(Index.#of(this));
  }

  add(vectors, ids) {
    native.add(Index.#of(this), toVectors(vectors, this.#info, 'vectors'), toIds(ids));
  }

  addAsync(vectors, ids) {
    return promised(() => native.addAsync(Index.#of(this), toVectors(vectors, this.#info, 'vectors'), toIds(ids)));
  }

  train(vectors) {
    native.train(Index.#of(this), toVectors(vectors, this.#info, 'vectors'));
  }

  trainAsync(vectors) {
    return promised(() => native.trainAsync(Index.#of(this), toVectors(vectors, this.#info, 'vectors')));
  }

  build() {
    native.build(Index.#of(this));
  }

  buildAsync() {
    return promised(() => native.buildAsync(Index.#of(this)));
  }

  search(queries, k, options) {
    return knnResult(native.search(Index.#of(this), toVectors(queries, this.#info, 'queries'), k, searchOptions(options)), k);
  }

  searchAsync(queries, k, options) {
    return promised(() => native.searchAsync(Index.#of(this), toVectors(queries, this.#info, 'queries'), k, searchOptions(options))).then((pair) =>
      knnResult(pair, k)
    );
  }

  rangeSearch(queries, radius, options) {
    return rangeResult(native.rangeSearch(Index.#of(this), toVectors(queries, this.#info, 'queries'), radius, searchOptions(options)));
  }

  rangeSearchAsync(queries, radius, options) {
    return promised(() => native.rangeSearchAsync(Index.#of(this), toVectors(queries, this.#info, 'queries'), radius, searchOptions(options))).then(
      rangeResult
    );
  }

  /**
   * Sets the cheapest runtime setting (nprobe, ef_search) whose recall@k on the sample `queries`
   * reaches `targetRecall`, measured against the exact neighbours of the index's own vectors;
   * returns {param, value, recall, qps, reached, measurements, fineParam, fineValue} (param null
   * for an exact kind; fineParam the finer setting, max_codes, set with the value where one more
   * step of it would jump past the target, else null).
   * options: {numThreads, maxValue, maxSeconds} (0 or absent: no limit).
   */
  tune(queries, k = 10, targetRecall = 0.95, options) {
    return native.tune(Index.#of(this), toVectors(queries, this.#info, 'queries'), k, targetRecall, tuneOptions(options));
  }

  tuneAsync(queries, k = 10, targetRecall = 0.95, options) {
    return promised(() => native.tuneAsync(Index.#of(this), toVectors(queries, this.#info, 'queries'), k, targetRecall, tuneOptions(options)));
  }

  /** Removes every vector carrying one of `ids`; returns how many were removed. */
  remove(ids) {
    return native.remove(Index.#of(this), toIdList(ids));
  }

  removeAsync(ids) {
    return promised(() => native.removeAsync(Index.#of(this), toIdList(ids)));
  }

  /** The stored vectors of `ids`: {vectors, found}; row i is zeros where found[i] is 0. */
  get(ids) {
    return getResult(native.get(Index.#of(this), toIdList(ids)));
  }

  getAsync(ids) {
    return promised(() => native.getAsync(Index.#of(this), toIdList(ids))).then(getResult);
  }

  /** true when some stored vector carries `id`. */
  contains(id) {
    return native.contains(Index.#of(this), toId(id));
  }

  /** Reclaims the space of removed vectors and finishes deferred rebuilds. */
  compact() {
    native.compact(Index.#of(this));
  }

  compactAsync() {
    return promised(() => native.compactAsync(Index.#of(this)));
  }

  save(path) {
    native.save(Index.#of(this), toPath(path));
  }

  saveAsync(path) {
    return promised(() => native.saveAsync(Index.#of(this), toPath(path)));
  }

  /** The index serialised as a Buffer, in the file format. */
  toBuffer() {
    return native.toBuffer(Index.#of(this));
  }

  getParam(name) {
    return native.getParam(Index.#of(this), toNativeName(name));
  }

  setParam(name, value) {
    native.setParam(Index.#of(this), toNativeName(name), value);
  }

  /**
   * Every named parameter of this index, as the library describes it (nearkit_index_param_describe):
   * [{name, nativeName, readOnly, build, integer, recall, minimum, maximum, default, description}];
   * `default` is the value of a new index, null for read-only statistics.
   */
  paramInfo() {
    return native.paramInfo(Index.#of(this)).map((p) => ({
      name: toJsName(p.name),
      nativeName: p.name,
      readOnly: p.readOnly,
      build: p.build,
      integer: p.integer,
      recall: p.recall,
      recallFine: p.recallFine,
      minimum: p.minimum,
      maximum: p.maximum,
      default: p.readOnly ? null : p.default,
      description: p.description,
    }));
  }

  /** Every named parameter with its current value, keyed by camelCase name. */
  params() {
    const h = Index.#of(this);
    const out = {};
    for (const p of native.paramInfo(h)) out[toJsName(p.name)] = native.getParam(h, p.name);
    return out;
  }

  /**
   * Releases the index. Idempotent. Later calls throw ERR_NEARKIT_CLOSED; operations already
   * running finish first, and the memory is released when the last of them completes.
   */
  close() {
    native.close(Index.#of(this));
  }

  [util.inspect.custom](depth, options) {
    if (native.isClosed(Index.#of(this))) return `Index <closed ${this.kind} ${this.metric} d=${this.dimension}>`;
    const fields = { kind: this.kind, metric: this.metric, dimension: this.dimension, count: this.count };
    return `Index ${util.inspect(fields, options)}`;
  }
}

// Distances of a merge part: a Float32Array as it is, a plain array copied into one (anything
// else goes on for the addon to report).
function toDistances(distances) {
  return Array.isArray(distances) ? Float32Array.from(distances) : distances;
}

/**
 * The k nearest per query of answers to the same queries computed apart (one per shard, say):
 * `parts` are search results, or any {ids, distances, k} blocks of rows of k entries, ordered as
 * one search over their union would order them. options.unique counts an id found by several
 * parts once, at its least distance. The merge is the library's (nearkit_merge_knn).
 */
function mergeKnn(parts, k, options) {
  if (!Array.isArray(parts)) throw typeError('mergeKnn(parts, k): parts must be an array of search results ({ids, distances, k})');
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw typeError('mergeKnn options must be an object such as {unique: true}');
  }
  const unique = options?.unique ?? false;
  if (typeof unique !== 'boolean') throw typeError('options.unique must be a boolean');
  const ids = [];
  const distances = [];
  const ks = [];
  parts.forEach((part, p) => {
    if (part === null || typeof part !== 'object') throw typeError(`parts[${p}] must be a search result ({ids, distances, k})`);
    ids.push(toIds(part.ids));
    distances.push(toDistances(part.distances));
    ks.push(part.k);
  });
  return knnResult(native.mergeKnn(ids, distances, ks, k, unique), k);
}

const SHARDED_OPTION_KEYS = new Set(['numThreads']);

function shardedThreads(options) {
  if (!checkOptionKeys(options, SHARDED_OPTION_KEYS, 'ShardedIndex', '{numThreads}')) return undefined;
  return options.numThreads;
}

const SHARDED_OPEN_KEYS = new Set(['numThreads', 'view']);

// ShardedIndex.open(path, {numThreads, view}) -> the addon's [numThreads, view] arguments.
function shardedOpenOptions(options) {
  if (!checkOptionKeys(options, SHARDED_OPEN_KEYS, 'ShardedIndex.open', '{numThreads, view}')) return [undefined, false];
  if (options.view !== undefined && typeof options.view !== 'boolean') throw typeError('options.view must be a boolean');
  return [options.numThreads, options.view ?? false];
}

/**
 * Indexes (shards) searched as one collection: a search runs on every shard and their top k are
 * merged by the library (nearkit_sharded_*), so flat shards answer exactly as one flat index over
 * the union. Ids are global: each vector keeps the id it has in its shard.
 */
class ShardedIndex {
  #h;

  static #of(self) {
    if (typeof self !== 'object' || self === null || !(#h in self)) {
      throw typeError('the receiver is not a nearkit ShardedIndex');
    }
    return self.#h;
  }

  /**
   * new ShardedIndex(shards?, {numThreads}?): the shards (Index objects) are handed over as by
   * addShard. If one is refused, the collection is closed (with the shards already taken) and the
   * error thrown; that shard and the later ones stay open.
   */
  constructor(shards, options) {
    if (shards === HANDLE) {
      this.#h = options; // from open
      return;
    }
    if (shards !== undefined && shards !== null && !Array.isArray(shards)) {
      throw typeError('new ShardedIndex(shards, options): shards must be an array of Index objects');
    }
    this.#h = native.shardedCreate(shardedThreads(options));
    try {
      for (const shard of shards ?? []) this.addShard(shard);
    } catch (error) {
      native.close(this.#h);
      throw error;
    }
  }

  /**
   * Opens a collection saved by save() (a directory with manifest.json), here or in any package.
   * {view: true} maps every shard file read-only (as Index.view) instead of reading it.
   */
  static open(path, options) {
    return new ShardedIndex(HANDLE, native.shardedOpen(toPath(path), ...shardedOpenOptions(options)));
  }

  static openAsync(path, options) {
    return promised(() => native.shardedOpenAsync(toPath(path), ...shardedOpenOptions(options)).then((h) => new ShardedIndex(HANDLE, h)));
  }

  /**
   * Appends `index` as the next shard. The collection takes the index over (the library owns its
   * shards, without a copy): on success the Index is closed, and its later use throws
   * ERR_NEARKIT_CLOSED; on failure (a shard unlike the first) it stays open and yours. An index
   * with asynchronous operations in flight is refused with ERR_NEARKIT_STATE.
   */
  addShard(index) {
    const h = ShardedIndex.#of(this);
    if (!(index instanceof Index)) throw typeError('addShard(index): index must be a nearkit Index');
    native.shardedAddShard(h, Index[HANDLE_OF](index));
  }

  get shardCount() {
    return native.shardedInfo(ShardedIndex.#of(this)).shardCount;
  }

  /** Vectors of every shard together. */
  get count() {
    return native.shardedInfo(ShardedIndex.#of(this)).count;
  }

  /** The shards' dimension; 0 before the first shard. */
  get dimension() {
    return native.shardedInfo(ShardedIndex.#of(this)).dimension;
  }

  /** The shards' metric; null before the first shard. */
  get metric() {
    return native.shardedInfo(ShardedIndex.#of(this)).metric;
  }

  /** 'float32' or 'binary'; null before the first shard. */
  get vectorType() {
    return native.shardedInfo(ShardedIndex.#of(this)).vectorType;
  }

  get memoryBytes() {
    return native.shardedInfo(ShardedIndex.#of(this)).memoryBytes;
  }

  get closed() {
    return native.isClosed(ShardedIndex.#of(this));
  }

  // Plain arrays are shaped by the shards' vector type; with no shard yet they go on as they are,
  // for the library's ERR_NEARKIT_STATE.
  #queries(queries) {
    if (!Array.isArray(queries)) return toVectors(queries, null, 'queries');
    const info = native.shardedInfo(this.#h);
    return info.shardCount === 0 ? queries : toVectors(queries, info, 'queries');
  }

  /** The k nearest of every shard's vectors for each query, as Index.search returns them. */
  search(queries, k, options) {
    const h = ShardedIndex.#of(this);
    return knnResult(native.shardedSearch(h, this.#queries(queries), k, searchOptions(options)), k);
  }

  searchAsync(queries, k, options) {
    return promised(() => {
      const h = ShardedIndex.#of(this);
      return native.shardedSearchAsync(h, this.#queries(queries), k, searchOptions(options));
    }).then((pair) => knnResult(pair, k));
  }

  /** Writes the collection to the directory `path` (created if missing): shard-NNNNN.nkx files, then manifest.json. */
  save(path) {
    native.shardedSave(ShardedIndex.#of(this), toPath(path));
  }

  saveAsync(path) {
    return promised(() => native.shardedSaveAsync(ShardedIndex.#of(this), toPath(path)));
  }

  /**
   * Releases the collection and its shards. Idempotent. Later calls throw ERR_NEARKIT_CLOSED;
   * searches already running finish first.
   */
  close() {
    native.close(ShardedIndex.#of(this));
  }

  [util.inspect.custom](depth, options) {
    if (native.isClosed(ShardedIndex.#of(this))) return 'ShardedIndex <closed>';
    const { shardCount, metric, dimension, count } = native.shardedInfo(this.#h);
    return `ShardedIndex ${util.inspect({ shardCount, metric, dimension, count }, options)}`;
  }
}

if (typeof Symbol.dispose === 'symbol') {
  for (const Class of [Index, ShardedIndex]) {
    Object.defineProperty(Class.prototype, Symbol.dispose, {
      value: function dispose() {
        Class.prototype.close.call(this); // not this.close(): a TypeError for a foreign receiver
      },
      writable: true,
      configurable: true,
    });
  }
}

/** Index.view(path, options): a read-only view of an index file. */
function view(path, options) {
  return Index.view(path, options);
}

/** Index.viewBuffer(buffer, options): a read-only view of an index's bytes in memory. */
function viewBuffer(buffer, options) {
  return Index.viewBuffer(buffer, options);
}

/** Every index kind compiled into the library. */
function kinds() {
  return native.kinds();
}

/** Every metric name the library knows. */
function metrics() {
  return native.metrics();
}

const version = native.version;
const versionNumber = native.versionNumber;
const abiVersion = native.abiVersion;

// Shorthand properties only, so that `import { Index } from 'nearkit'` works from ES modules.
module.exports = { Index, ShardedIndex, mergeKnn, view, viewBuffer, kinds, metrics, version, versionNumber, abiVersion };
