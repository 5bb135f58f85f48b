'use strict';
// The page's side of the nearkit demo: drawing and input only. Every nearest-neighbour answer comes
// from the server (server.js), which asks the nearkit package. window.nearkitDemo exposes the
// state that is on screen, for the end-to-end test and the benchmark.

const $ = (id) => document.getElementById(id);
const state = { explorer: {}, voronoi: {} };
window.nearkitDemo = state;

function metric() {
  return $('metric').value;
}

// ---- colours -----------------------------------------------------------------------------------

// An RGBA colour as one little-endian Uint32 (the byte order of ImageData on every browser that
// runs this page).
function packRgb(r, g, b) {
  return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

// The density ramp: dark blue, violet, orange, pale yellow.
const RAMP = [[12, 14, 40], [70, 30, 120], [190, 60, 90], [250, 150, 40], [255, 245, 190]];
function rampColour(t) {
  const f = Math.min(Math.max(t, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(f), RAMP.length - 2);
  const u = f - i;
  const mix = (c) => Math.round(RAMP[i][c] + (RAMP[i + 1][c] - RAMP[i][c]) * u);
  return packRgb(mix(0), mix(1), mix(2));
}

function hslToRgb(h, s, l) {
  const a = s * Math.min(l, 1 - l);
  const f = (n) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

// Seed i's colour: hues a golden angle apart, so neighbouring numbers differ clearly.
function seedRgb(i) {
  return hslToRgb((i * 137.508) % 360, 0.55 + 0.2 * ((i * 7) % 3) / 2, 0.5 + 0.08 * ((i * 5) % 3));
}

// ---- KNN explorer ------------------------------------------------------------------------------

const ex = state.explorer;
const exCanvas = $('explorer');
const exCtx = exCanvas.getContext('2d');
const W = exCanvas.width;
const H = exCanvas.height;
const DOT_LIMIT = 25000; // more visible points than this: the density raster
const exBase = document.createElement('canvas');
exBase.width = W;
exBase.height = H;
const exBaseCtx = exBase.getContext('2d');

function resetView() {
  ex.view = { scale: Math.min(W, H) * 0.96 };
  ex.view.x0 = 0.5 - W / 2 / ex.view.scale;
  ex.view.y0 = 0.5 - H / 2 / ex.view.scale;
}
resetView();

ex.toCanvas = (x, y) => [(x - ex.view.x0) * ex.view.scale, (y - ex.view.y0) * ex.view.scale];
ex.toWorld = (px, py) => [ex.view.x0 + px / ex.view.scale, ex.view.y0 + py / ex.view.scale];

// Bins the visible points into canvas pixels; paints either their density or the points themselves.
function renderBase() {
  const pts = ex.points;
  if (!pts) return;
  const { x0, y0, scale } = ex.view;
  const counts = new Uint32Array(W * H);
  let visible = 0;
  let max = 0;
  for (let i = 0; i < pts.length; i += 2) {
    const px = Math.floor((pts[i] - x0) * scale);
    const py = Math.floor((pts[i + 1] - y0) * scale);
    if (px < 0 || py < 0 || px >= W || py >= H) continue;
    const c = ++counts[py * W + px];
    if (c > max) max = c;
    visible++;
  }
  const image = exBaseCtx.createImageData(W, H);
  const out = new Uint32Array(image.data.buffer);
  out.fill(packRgb(11, 12, 16));
  ex.mode = visible > DOT_LIMIT ? 'density' : 'points';
  if (ex.mode === 'density') {
    const norm = Math.log1p(max);
    for (let p = 0; p < counts.length; p++) if (counts[p]) out[p] = rampColour(0.15 + 0.85 * Math.log1p(counts[p]) / norm);
  } else {
    const dot = packRgb(120, 190, 255);
    for (let p = 0; p < counts.length; p++) {
      if (!counts[p]) continue;
      const px = p % W;
      const py = (p - px) / W;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const x = px + dx;
          const y = py + dy;
          if (x >= 0 && y >= 0 && x < W && y < H) out[y * W + x] = dot;
        }
      }
    }
  }
  exBaseCtx.putImageData(image, 0, 0);
  ex.visible = visible;
  drawExplorer();
}

const HIGHLIGHT = '#ff9f1c';

function drawExplorer() {
  exCtx.drawImage(exBase, 0, 0);
  const q = ex.lastQuery;
  if (!q || q.dataset !== ex.datasetId) return;
  const [qx, qy] = ex.toCanvas(q.x, q.y);
  exCtx.lineWidth = 1;
  exCtx.strokeStyle = 'rgba(255, 159, 28, 0.55)';
  exCtx.beginPath();
  for (const id of q.ids) {
    if (id < 0) continue;
    const [px, py] = ex.toCanvas(ex.points[2 * id], ex.points[2 * id + 1]);
    exCtx.moveTo(qx, qy);
    exCtx.lineTo(px, py);
  }
  exCtx.stroke();
  // the hovered place: a ring under the discs, which stay whole where they overlap it
  exCtx.strokeStyle = '#fff';
  exCtx.lineWidth = 2;
  exCtx.beginPath();
  exCtx.arc(qx, qy, 7, 0, 2 * Math.PI);
  exCtx.stroke();
  // dark rims first, then every disc: where neighbours overlap, no rim crosses a disc
  for (const [colour, radius] of [['#000', 5.5], [HIGHLIGHT, 4.5]]) {
    exCtx.fillStyle = colour;
    for (const id of q.ids) {
      if (id < 0) continue;
      const [px, py] = ex.toCanvas(ex.points[2 * id], ex.points[2 * id + 1]);
      exCtx.beginPath();
      exCtx.arc(px, py, radius, 0, 2 * Math.PI);
      exCtx.fill();
    }
  }
}

function explorerStatus() {
  const q = ex.lastQuery;
  let text = `${ex.n.toLocaleString('en')} points in a ${ex.kind} (built in ${ex.buildMs} ms) · ${ex.mode === 'density' ? 'density raster' : 'points'}`;
  if (q && q.dataset === ex.datasetId) {
    text += ` · ${q.k} nearest to (${q.x.toFixed(4)}, ${q.y.toFixed(4)}): query ${q.queryMs.toFixed(3)} ms in the server, ${q.roundTripMs.toFixed(1)} ms round trip`;
  }
  $('explorer-status').textContent = text;
}

async function loadPoints() {
  const n = Number($('points').value);
  const kind = $('explorer-kind').value;
  ex.ready = false;
  $('explorer-status').textContent = `building a ${kind} of ${n.toLocaleString('en')} points…`;
  const res = await fetch(`api/dataset?n=${n}&metric=${metric()}&kind=${kind}`);
  if (!res.ok) throw new Error((await res.json()).error);
  ex.points = new Float32Array(await res.arrayBuffer());
  Object.assign(ex, { n, kind, metric: metric(), datasetId: Number(res.headers.get('x-dataset-id')), buildMs: res.headers.get('x-build-ms') });
  ex.lastQuery = null;
  renderBase();
  explorerStatus();
  ex.ready = true;
}

// One hover request at a time; the newest position waits for the one in flight.
let hoverInFlight = false;
let hoverPending = null;
async function askNearest(x, y) {
  if (hoverInFlight) {
    hoverPending = [x, y];
    return;
  }
  hoverInFlight = true;
  try {
    const k = Math.min(100, Math.max(1, Math.floor(Number($('k').value)) || 10));
    const t0 = performance.now();
    const res = await fetch(`api/knn?dataset=${ex.datasetId}&x=${x}&y=${y}&k=${k}`);
    const body = await res.json();
    if (res.ok) {
      body.roundTripMs = performance.now() - t0;
      ex.lastQuery = body;
      ex.queries = (ex.queries || 0) + 1;
      drawExplorer();
      explorerStatus();
    }
  } finally {
    hoverInFlight = false;
    if (hoverPending) {
      const [px, py] = hoverPending;
      hoverPending = null;
      askNearest(px, py);
    }
  }
}

let panFrom = null;
let renderQueued = false;
function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderBase();
    explorerStatus();
  });
}

function canvasPos(canvas, e) {
  const r = canvas.getBoundingClientRect();
  return [e.clientX - r.left, e.clientY - r.top];
}

exCanvas.addEventListener('mousedown', (e) => {
  panFrom = canvasPos(exCanvas, e);
});
window.addEventListener('mouseup', () => {
  panFrom = null;
});
exCanvas.addEventListener('mousemove', (e) => {
  if (!ex.ready) return;
  const [px, py] = canvasPos(exCanvas, e);
  if (panFrom && e.buttons & 1) {
    ex.view.x0 -= (px - panFrom[0]) / ex.view.scale;
    ex.view.y0 -= (py - panFrom[1]) / ex.view.scale;
    panFrom = [px, py];
    queueRender();
    return;
  }
  const [x, y] = ex.toWorld(px, py);
  askNearest(x, y);
});
exCanvas.addEventListener('wheel', (e) => {
  e.preventDefault();
  const [px, py] = canvasPos(exCanvas, e);
  const [wx, wy] = ex.toWorld(px, py);
  const scale = Math.min(Math.max(ex.view.scale * Math.exp(-e.deltaY * 0.0015), 100), 5e6);
  ex.view = { scale, x0: wx - px / scale, y0: wy - py / scale };
  queueRender();
}, { passive: false });
exCanvas.addEventListener('dblclick', () => {
  resetView();
  queueRender();
});

// ---- Live Voronoi ------------------------------------------------------------------------------

const vo = state.voronoi;
const voCanvas = $('voronoi');
const voCtx = voCanvas.getContext('2d');
const VW = voCanvas.width;
const VH = voCanvas.height;
const voImage = voCtx.createImageData(VW, VH);
const voPixels = new Uint32Array(voImage.data.buffer);
let palette = new Uint32Array(0);

vo.seedRgb = seedRgb;
vo.frames = 0;
vo.frameTimes = [];
vo.queryLog = []; // every frame's search time in the server, ms (read by bench/demo_latency.mjs)

function ensurePalette(n) {
  if (palette.length >= n) return;
  palette = new Uint32Array(Math.max(n, 2 * palette.length));
  for (let i = 0; i < palette.length; i++) palette[i] = packRgb(...seedRgb(i));
}

function randomSeeds(count) {
  vo.seeds = Array.from({ length: count }, () => ({
    x: 10 + Math.random() * (VW - 20), y: 10 + Math.random() * (VH - 20),
    vx: (Math.random() - 0.5) * 4, vy: (Math.random() - 0.5) * 4,
  }));
}

function drawSeeds() {
  voCtx.lineWidth = 1.5;
  for (const s of vo.seeds) {
    voCtx.beginPath();
    voCtx.arc(s.x, s.y, 4, 0, 2 * Math.PI);
    voCtx.fillStyle = '#111';
    voCtx.fill();
    voCtx.strokeStyle = '#fff';
    voCtx.stroke();
  }
}

function paintLabels(labels) {
  ensurePalette(vo.seeds.length);
  for (let i = 0; i < labels.length; i++) voPixels[i] = palette[labels[i]];
  voCtx.putImageData(voImage, 0, 0);
  drawSeeds();
}

function moveSeeds() {
  for (const s of vo.seeds) {
    s.x += s.vx;
    s.y += s.vy;
    if (s.x < 0 || s.x > VW) s.vx = -s.vx;
    if (s.y < 0 || s.y > VH) s.vy = -s.vy;
  }
}

function recordFrame(now) {
  vo.frames++;
  vo.frameTimes.push(now);
  while (vo.frameTimes.length && vo.frameTimes[0] < now - 1000) vo.frameTimes.shift();
  vo.fps = vo.frameTimes.length;
}

function voronoiStatus() {
  $('voronoi-status').textContent = `${vo.seeds.length} seeds in a ${vo.kind} · ${(VW * VH).toLocaleString('en')} pixels, one batch 1-NN query: ${vo.queryMs.toFixed(1)} ms in the server · frame ${vo.frameMs.toFixed(1)} ms · ${vo.fps} frames/s`;
}

// One frame: the seeds go to the server, every pixel's nearest seed comes back (one or two bytes
// per pixel).
let frameInFlight = false;
let frameWanted = false;
async function requestFrame() {
  if (frameInFlight) {
    frameWanted = true;
    return;
  }
  frameInFlight = true;
  frameWanted = false;
  try {
    const seeds = vo.seeds.map((s) => ({ x: s.x, y: s.y }));
    const body = new Float32Array(seeds.length * 2);
    seeds.forEach((s, i) => {
      body[2 * i] = s.x;
      body[2 * i + 1] = s.y;
    });
    const kind = $('voronoi-kind').value;
    const m = metric();
    const t0 = performance.now();
    const res = await fetch(`api/voronoi?w=${VW}&h=${VH}&metric=${m}&kind=${kind}`, { method: 'POST', body });
    if (!res.ok) throw new Error((await res.json()).error);
    const bytes = await res.arrayBuffer();
    const labels = res.headers.get('x-label-bytes') === '1' ? new Uint8Array(bytes) : new Uint16Array(bytes);
    const now = performance.now();
    paintLabels(labels);
    Object.assign(vo, { drawnSeeds: seeds, metric: m, kind, queryMs: Number(res.headers.get('x-query-ms')), frameMs: now - t0 });
    vo.queryLog.push(vo.queryMs);
    recordFrame(now);
    voronoiStatus();
    vo.ready = true;
  } catch (err) {
    $('voronoi-status').textContent = `error: ${err.message}`;
  } finally {
    frameInFlight = false;
    if ($('animate').checked) {
      moveSeeds();
      requestFrame();
    } else if (frameWanted) requestFrame();
  }
}

function seedAt(x, y) {
  let best = -1;
  let bestD = 9 * 9;
  vo.seeds.forEach((s, i) => {
    const d = (s.x - x) ** 2 + (s.y - y) ** 2;
    if (d <= bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

let dragging = -1;
voCanvas.addEventListener('mousedown', (e) => {
  if (e.button !== 0) return;
  const [x, y] = canvasPos(voCanvas, e);
  dragging = seedAt(x, y);
  if (dragging < 0 && vo.seeds.length < 1000) {
    vo.seeds.push({ x, y, vx: (Math.random() - 0.5) * 4, vy: (Math.random() - 0.5) * 4 });
    dragging = vo.seeds.length - 1;
    requestFrame();
  }
});
window.addEventListener('mouseup', () => {
  dragging = -1;
});
voCanvas.addEventListener('mousemove', (e) => {
  if (dragging < 0 || !(e.buttons & 1)) return;
  const [x, y] = canvasPos(voCanvas, e);
  Object.assign(vo.seeds[dragging], { x: Math.min(Math.max(x, 0), VW), y: Math.min(Math.max(y, 0), VH) });
  requestFrame();
});
voCanvas.addEventListener('contextmenu', (e) => {
  e.preventDefault();
  const i = seedAt(...canvasPos(voCanvas, e));
  if (i >= 0 && vo.seeds.length > 1) {
    vo.seeds.splice(i, 1);
    requestFrame();
  }
});

// ---- controls ----------------------------------------------------------------------------------

function reseed() {
  const n = Math.min(1000, Math.max(1, Math.floor(Number($('seed-count').value)) || 50));
  randomSeeds(n);
  requestFrame();
}

$('reseed').addEventListener('click', reseed);
$('seed-count').addEventListener('change', reseed);
$('voronoi-kind').addEventListener('change', () => requestFrame());
$('animate').addEventListener('change', () => requestFrame());
for (const id of ['points', 'explorer-kind']) $(id).addEventListener('change', () => loadPoints());
$('metric').addEventListener('change', () => {
  loadPoints();
  requestFrame();
});

// Query-string settings (used by the tests and the benchmark): ?points=100000&seeds=50&metric=l1
const params = new URLSearchParams(location.search);
for (const [param, id] of [['points', 'points'], ['k', 'k'], ['metric', 'metric'], ['seeds', 'seed-count'], ['vkind', 'voronoi-kind'], ['ekind', 'explorer-kind']]) {
  const v = params.get(param);
  if (v === null) continue;
  const el = $(id);
  if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === v)) el.add(new Option(v, v));
  el.value = v;
}
$('animate').checked = params.get('animate') === '1';

reseed();
loadPoints().catch((err) => {
  $('explorer-status').textContent = `error: ${err.message}`;
});
