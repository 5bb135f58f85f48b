#!/usr/bin/env node
'use strict';
// nearkit-demo: a web page with two demos of the package, served by Node's own http module.
//
//   KNN explorer   up to 1,000,000 2-D points in an index here; hovering asks for the k nearest
//   Voronoi        the page sends its seeds; one batch 1-NN call over every pixel's centre colours
//                  each pixel by its nearest seed
//
// Every search is the package's (require('../lib/index.js')); this file only generates the
// points, parses requests and moves bytes. Usage: nearkit-demo [--port N] [--host H]
// (port 0 picks a free one; the address is printed on the first line of stdout).

const http = require('http');
const fs = require('fs');
const path = require('path');
const nearkit = require('../lib/index.js');

const LIMITS = { maxPoints: 1000000, maxK: 100, maxPixels: 2000 * 2000, maxSeeds: 1000 };
const DEMO_METRICS = ['l2', 'l1', 'linf'];
const DEMO_KINDS = ['vptree', 'flat'];

class BadRequest extends Error {}

// ---- request parsing ---------------------------------------------------------------------------

function intParam(query, name, lo, hi, fallback) {
  const raw = query.get(name);
  if (raw === null) {
    if (fallback === undefined) throw new BadRequest(`missing parameter ${name}`);
    return fallback;
  }
  const v = Number(raw);
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new BadRequest(`${name} must be an integer from ${lo} to ${hi}, got ${JSON.stringify(raw)}`);
  }
  return v;
}

function numberParam(query, name) {
  const raw = query.get(name);
  const v = Number(raw);
  if (raw === null || raw === '' || !Number.isFinite(v)) throw new BadRequest(`${name} must be a finite number`);
  return v;
}

function choiceParam(query, name, choices, fallback) {
  const v = query.get(name) ?? fallback;
  if (!choices.includes(v)) throw new BadRequest(`${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`);
  return v;
}

function readBody(req, maxBytes) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new BadRequest(`request body larger than ${maxBytes} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// ---- the explorer's points ---------------------------------------------------------------------

// A small seeded generator (mulberry32), so that a point count always gives the same points.
function randomSource(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// n points in the unit square: gaussian clusters of several sizes over a thin uniform background,
// which gives the density raster something to show. Row-major x, y as float32.
function generatePoints(n, seed) {
  const rand = randomSource(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const clusters = Array.from({ length: 14 }, () => ({
    x: 0.1 + 0.8 * rand(), y: 0.1 + 0.8 * rand(), sx: 0.01 + 0.07 * rand(), sy: 0.01 + 0.07 * rand(),
  }));
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    let x;
    let y;
    if (rand() < 0.12) {
      x = rand();
      y = rand();
    } else {
      const c = clusters[Math.floor(rand() * clusters.length)];
      x = Math.min(1, Math.max(0, c.x + c.sx * gauss()));
      y = Math.min(1, Math.max(0, c.y + c.sy * gauss()));
    }
    out[2 * i] = x;
    out[2 * i + 1] = y;
  }
  return out;
}

function elapsedMs(start) {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

// The explorer's current data set and its index; one at a time (a new choice replaces it).
let dataset = null;
let datasetSerial = 0;

function loadDataset(n, metric, kind) {
  if (dataset && dataset.n === n && dataset.metric === metric && dataset.kind === kind) return dataset;
  const points = dataset && dataset.n === n ? dataset.points : generatePoints(n, 22);
  const start = process.hrtime.bigint();
  const index = new nearkit.Index({ kind, metric, dimension: 2, numThreads: 0 });
  index.add(points);
  index.build();
  const buildMs = elapsedMs(start);
  if (dataset) dataset.index.close();
  dataset = { id: ++datasetSerial, n, metric, kind, points, index, buildMs };
  return dataset;
}

// ---- the Voronoi diagram -----------------------------------------------------------------------

// The centres of a w x h image's pixels, row by row: the queries of every frame of that size.
const pixelGrids = new Map();
function pixelCentres(w, h) {
  const key = `${w}x${h}`;
  let grid = pixelGrids.get(key);
  if (!grid) {
    grid = new Float32Array(2 * w * h);
    for (let y = 0, i = 0; y < h; y++) {
      for (let x = 0; x < w; x++, i += 2) {
        grid[i] = x + 0.5;
        grid[i + 1] = y + 0.5;
      }
    }
    if (pixelGrids.size > 4) pixelGrids.clear();
    pixelGrids.set(key, grid);
  }
  return grid;
}

// The search's int64 ids (seed numbers, below 65,536) as one byte each where there are at most 256
// seeds, else two: the frame's transfer is then 480 kB, not 3.8 MB. Read through an Int32Array
// view of the ids (their low halves on a little-endian machine): converting 480,000 bigints one by
// one costs more than the search's own threads save.
const LITTLE_ENDIAN = require('os').endianness() === 'LE';
function seedNumbers(ids, seedCount) {
  const out = seedCount <= 256 ? new Uint8Array(ids.length) : new Uint16Array(ids.length);
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < ids.length; i++) out[i] = Number(ids[i]);
    return out;
  }
  const words = new Int32Array(ids.buffer, ids.byteOffset, 2 * ids.length);
  for (let i = 0; i < out.length; i++) out[i] = words[2 * i];
  return out;
}

// seeds (float32 x, y in pixels) -> the nearest seed's number for every pixel, from one batch
// 1-NN search of all pixel centres against an index of the seeds.
async function voronoiLabels(seeds, w, h, metric, kind) {
  const buildStart = process.hrtime.bigint();
  const index = new nearkit.Index({ kind, metric, dimension: 2, numThreads: 0 });
  try {
    index.add(seeds);
    index.build();
    const buildMs = elapsedMs(buildStart);
    const queryStart = process.hrtime.bigint();
    const { ids } = await index.searchAsync(pixelCentres(w, h), 1);
    const queryMs = elapsedMs(queryStart);
    return { labels: seedNumbers(ids, seeds.length / 2), buildMs, queryMs };
  } finally {
    index.close();
  }
}

// ---- HTTP --------------------------------------------------------------------------------------

const STATIC_FILES = {
  '/': ['page.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
};

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

function sendBinary(res, view, headers) {
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'cache-control': 'no-store',
    'access-control-expose-headers': Object.keys(headers).join(', '),
    ...headers,
  });
  res.end(Buffer.from(view.buffer, view.byteOffset, view.byteLength));
}

async function handleDataset(query, res) {
  const n = intParam(query, 'n', 1, LIMITS.maxPoints);
  const metric = choiceParam(query, 'metric', DEMO_METRICS, 'l2');
  const kind = choiceParam(query, 'kind', DEMO_KINDS, 'vptree');
  const d = loadDataset(n, metric, kind);
  sendBinary(res, d.points, { 'x-dataset-id': String(d.id), 'x-build-ms': d.buildMs.toFixed(1) });
}

function handleKnn(query, res) {
  if (!dataset) throw new BadRequest('no data set loaded yet (GET /api/dataset first)');
  const id = intParam(query, 'dataset', 0, Number.MAX_SAFE_INTEGER, dataset.id);
  if (id !== dataset.id) {
    sendJson(res, 409, { error: `data set ${id} was replaced by ${dataset.id}` });
    return;
  }
  const x = numberParam(query, 'x');
  const y = numberParam(query, 'y');
  const k = intParam(query, 'k', 1, LIMITS.maxK);
  const start = process.hrtime.bigint();
  const result = dataset.index.search(new Float32Array([x, y]), k);
  const queryMs = elapsedMs(start);
  const json = result.toJSON();
  sendJson(res, 200, { dataset: dataset.id, x, y, k, ids: json.ids, distances: json.distances, queryMs });
}

async function handleVoronoi(req, query, res) {
  const w = intParam(query, 'w', 1, 4000);
  const h = intParam(query, 'h', 1, 4000);
  if (w * h > LIMITS.maxPixels) throw new BadRequest(`w * h must be at most ${LIMITS.maxPixels}`);
  const metric = choiceParam(query, 'metric', DEMO_METRICS, 'l2');
  const kind = choiceParam(query, 'kind', DEMO_KINDS, 'flat');
  const body = await readBody(req, LIMITS.maxSeeds * 8);
  if (body.length === 0 || body.length % 8 !== 0) {
    throw new BadRequest('the body must hold 1 or more seeds as float32 x, y pairs (8 bytes each)');
  }
  const seeds = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length));
  const { labels, buildMs, queryMs } = await voronoiLabels(seeds, w, h, metric, kind);
  sendBinary(res, labels, {
    'x-query-ms': queryMs.toFixed(2), 'x-build-ms': buildMs.toFixed(3), 'x-label-bytes': String(labels.BYTES_PER_ELEMENT),
  });
}

function serveStatic(pathname, res) {
  const [file, type] = STATIC_FILES[pathname];
  fs.readFile(path.join(__dirname, file), (err, data) => {
    if (err) return sendJson(res, 500, { error: err.message });
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(data);
  });
}

async function route(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const q = url.searchParams;
  if (req.method === 'GET' && STATIC_FILES[url.pathname]) return serveStatic(url.pathname, res);
  if (req.method === 'GET' && url.pathname === '/api/info') {
    return sendJson(res, 200, { metrics: DEMO_METRICS, kinds: DEMO_KINDS, limits: LIMITS, version: nearkit.version });
  }
  if (req.method === 'GET' && url.pathname === '/api/dataset') return handleDataset(q, res);
  if (req.method === 'GET' && url.pathname === '/api/knn') return handleKnn(q, res);
  if (req.method === 'POST' && url.pathname === '/api/voronoi') return handleVoronoi(req, q, res);
  return sendJson(res, 404, { error: `no such page: ${req.method} ${url.pathname}` });
}

function createServer() {
  return http.createServer((req, res) => {
    route(req, res).catch((err) => {
      // bad input is the caller's (400); the library's own refusals carry an ERR_NEARKIT_ code
      const status = err instanceof BadRequest || /^ERR_(NEARKIT_INVALID|INVALID|OUT_OF_RANGE)/.test(err.code || '') ? 400 : 500;
      if (!res.headersSent) sendJson(res, status, { error: err.message, code: err.code });
      else res.destroy();
    });
  });
}

function parseArgs(argv) {
  const opts = { port: 8022, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--host') opts.host = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log('usage: nearkit-demo [--port N] [--host ADDRESS]   (port 0: any free port)');
      process.exit(0);
    } else {
      console.error(`nearkit-demo: unknown argument ${a} (try --help)`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    console.error('nearkit-demo: --port must be an integer from 0 to 65535');
    process.exit(2);
  }
  return opts;
}

if (require.main === module) {
  const { port, host } = parseArgs(process.argv.slice(2));
  const server = createServer();
  server.on('error', (err) => {
    console.error(`nearkit-demo: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const a = server.address();
    console.log(`nearkit demo on http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`);
  });
}

module.exports = { createServer, generatePoints };
