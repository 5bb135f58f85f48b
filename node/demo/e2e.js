'use strict';
// End-to-end test of the web demo, as a person would use it: the server on a free port, the page
// in headless Debian Chromium. It hovers, zooms, pans, adds, drags and removes Voronoi seeds, and
// checks what the canvas shows against brute force computed here: the highlighted points are the
// exact k nearest, and sampled Voronoi pixels have the colour of their nearest seed under each
// metric. Screenshots go to the directory in argv[2] (default: the current directory).
// Exit code 77 (ctest's SKIP_RETURN_CODE) when Chromium or playwright-core is missing.

const assert = require('assert/strict');
const fs = require('fs');
const path = require('path');
const { browserMissing, launchBrowser, startServer } = require('./headless.js');

const POINTS = 1000000;
const K = 10;
const SEEDS = 40;
const HIGHLIGHT = [255, 159, 28];

const DISTANCES = {
  l2: (dx, dy) => Math.hypot(dx, dy),
  l1: (dx, dy) => Math.abs(dx) + Math.abs(dy),
  linf: (dx, dy) => Math.max(Math.abs(dx), Math.abs(dy)),
};

// The k nearest points to (x, y) by brute force: [id, distance] pairs, nearest first.
function bruteForceKnn(points, x, y, k, metric) {
  const dist = DISTANCES[metric];
  const best = [];
  for (let i = 0; i < points.length / 2; i++) {
    const d = dist(points[2 * i] - x, points[2 * i + 1] - y);
    if (best.length === k && d >= best[k - 1][1]) continue;
    let at = best.length;
    while (at > 0 && best[at - 1][1] > d) at--;
    best.splice(at, 0, [i, d]);
    if (best.length > k) best.pop();
  }
  return best;
}

// The ids must be the brute-force ones; where two points tie (within float32 rounding) at the
// k-th distance, either may be returned.
function assertExactNeighbours(ids, points, q, metric) {
  const truth = bruteForceKnn(points, Math.fround(q.x), Math.fround(q.y), K, metric);
  const kth = truth[K - 1][1];
  const dist = DISTANCES[metric];
  assert.equal(ids.length, K);
  assert.equal(new Set(ids).size, K, 'repeated ids');
  for (const [id] of truth) {
    if (ids.includes(id)) continue;
    const d = dist(points[2 * id] - q.x, points[2 * id + 1] - q.y);
    assert.ok(Math.abs(d - kth) <= 1e-6, `point ${id} (distance ${d}) is among the ${K} nearest but not highlighted: ${ids}`);
  }
}

function rgbClose(a, b, tolerance = 3) {
  return a.every((v, i) => Math.abs(v - b[i]) <= tolerance);
}

async function waitFor(page, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: 20000 });
  } catch (err) {
    const seen = await page.evaluate(() => {
      const { explorer: ex, voronoi: vo } = window.nearkitDemo;
      return { explorer: { ready: ex.ready, mode: ex.mode, view: ex.view, lastQuery: ex.lastQuery, queries: ex.queries }, voronoi: { frames: vo.frames, seeds: vo.seeds.length, drawn: vo.drawnSeeds && vo.drawnSeeds.length, metric: vo.metric } };
    });
    throw new Error(`waiting for ${fn} (${JSON.stringify(arg)}) timed out; the page had ${JSON.stringify(seen)}`);
  }
}

async function hoverAndCheck(page, px, py, points, metric) {
  const canvasBox = await page.locator('#explorer').boundingBox();
  const before = await page.evaluate(() => window.nearkitDemo.explorer.queries || 0);
  await page.mouse.move(canvasBox.x + px, canvasBox.y + py);
  await waitFor(page, ([n, x, y]) => {
    const ex = window.nearkitDemo.explorer;
    if ((ex.queries || 0) <= n || !ex.lastQuery) return false;
    // the browser may round the mouse position to whole CSS pixels
    const [cx, cy] = ex.toCanvas(ex.lastQuery.x, ex.lastQuery.y);
    return Math.abs(cx - x) <= 1 && Math.abs(cy - y) <= 1;
  }, [before, px, py]);
  const shown = await page.evaluate(() => {
    const ex = window.nearkitDemo.explorer;
    const ctx = document.getElementById('explorer').getContext('2d');
    // the colour under each highlighted point's centre, as drawn on the canvas
    const colours = ex.lastQuery.ids.map((id) => {
      const [cx, cy] = ex.toCanvas(ex.points[2 * id], ex.points[2 * id + 1]);
      return Array.from(ctx.getImageData(Math.floor(cx), Math.floor(cy), 1, 1).data.slice(0, 3));
    });
    return { q: ex.lastQuery, colours, mode: ex.mode };
  });
  assertExactNeighbours(shown.q.ids, points, shown.q, metric);
  for (const c of shown.colours) assert.ok(rgbClose(c, HIGHLIGHT, 40), `a neighbour is drawn as ${c}, not highlighted`);
  assert.ok(shown.q.queryMs >= 0 && (await page.textContent('#explorer-status')).includes('ms in the server'));
  return shown;
}

// Samples pixels of the Voronoi canvas and checks each against the brute-force nearest seed's colour.
async function checkVoronoi(page, metric, samples = 1500) {
  const drawn = await page.evaluate((n) => {
    const vo = window.nearkitDemo.voronoi;
    const canvas = document.getElementById('voronoi');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const pixels = [];
    for (let s = 0; s < n; s++) {
      const x = Math.floor(Math.random() * canvas.width);
      const y = Math.floor(Math.random() * canvas.height);
      const at = 4 * (y * canvas.width + x);
      pixels.push([x, y, data[at], data[at + 1], data[at + 2]]);
    }
    const colours = vo.drawnSeeds.map((_, i) => vo.seedRgb(i));
    return { seeds: vo.drawnSeeds, metric: vo.metric, pixels, colours };
  }, samples);
  assert.equal(drawn.metric, metric);
  const dist = DISTANCES[metric];
  let checked = 0;
  for (const [x, y, r, g, b] of drawn.pixels) {
    const cx = x + 0.5;
    const cy = y + 0.5;
    const d = drawn.seeds.map((s) => dist(Math.fround(s.x) - cx, Math.fround(s.y) - cy));
    // the seeds' markers (radius 4 and their outline) cover the pixels next to them
    if (drawn.seeds.some((s) => Math.hypot(s.x - cx, s.y - cy) < 7)) continue;
    const min = Math.min(...d);
    const allowed = d.map((v, i) => [v, i]).filter(([v]) => v - min <= 1e-3).map(([, i]) => i);
    assert.ok(allowed.some((i) => rgbClose([r, g, b], drawn.colours[i])),
      `${metric}: pixel (${x}, ${y}) is ${[r, g, b]}; its nearest seed ${allowed} is ${drawn.colours[allowed[0]]}`);
    checked++;
  }
  assert.ok(checked > samples / 2, `only ${checked} pixels checked`);
  return checked;
}

async function nextFrame(page, fn, arg) {
  const frames = await page.evaluate(() => window.nearkitDemo.voronoi.frames);
  await fn();
  await waitFor(page, ([n, a]) => window.nearkitDemo.voronoi.frames > n && !(a && window.nearkitDemo.voronoi.drawnSeeds.length !== a), [frames, arg]);
}

// Bad requests get a 400 naming what is wrong, and the server keeps serving.
async function checkBadInput(url) {
  const cases = [
    ['GET', 'api/dataset?n=0', null, /n must be an integer from 1/],
    ['GET', 'api/dataset?n=1000&metric=cosine', null, /metric must be one of l2, l1, linf/],
    ['GET', 'api/knn?x=abc&y=0&k=3', null, /x must be a finite number/],
    ['POST', 'api/voronoi?w=800&h=600', new Uint8Array(5), /float32 x, y pairs/],
    ['POST', 'api/voronoi?w=800&h=600', new Float32Array([1, NaN]), /./],
  ];
  for (const [method, where, body, message] of cases) {
    const res = await fetch(url + where, { method, body });
    const text = await res.text();
    assert.equal(res.status, 400, `${method} ${where}: ${res.status} ${text}`);
    assert.match(JSON.parse(text).error, message);
  }
}

async function main() {
  const missing = browserMissing();
  if (missing) {
    console.log(`SKIP: ${missing}`);
    process.exit(77);
  }
  const outDir = path.resolve(process.argv[2] || '.');
  fs.mkdirSync(outDir, { recursive: true });
  const server = await startServer();
  const browser = await launchBrowser({ width: 1720, height: 900 });
  const { page } = browser;
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`${server.url}?points=${POINTS}&seeds=${SEEDS}&k=${K}&vkind=vptree`);
    await waitFor(page, () => window.nearkitDemo.explorer.ready && window.nearkitDemo.voronoi.ready);
    await checkBadInput(server.url);
    const points = new Float32Array(await (await fetch(`${server.url}api/dataset?n=${POINTS}&metric=l2&kind=vptree`)).arrayBuffer());
    assert.equal(points.length, 2 * POINTS);
    const exBox = await page.locator('#explorer').boundingBox();

    // zoomed out: a million points as a density raster; hover anywhere
    const far = await hoverAndCheck(page, 300, 240, points, 'l2');
    assert.equal(far.mode, 'density');
    await page.locator('#explorer').locator('..').screenshot({ path: path.join(outDir, 'demo-explorer-density.png') });

    // zoom in around the cursor until single points show, pan, and hover again
    await page.mouse.move(exBox.x + 472, exBox.y + 262);
    for (let i = 0; i < 4; i++) await page.mouse.wheel(0, -700);
    await waitFor(page, () => window.nearkitDemo.explorer.mode === 'points');
    const view0 = await page.evaluate(() => ({ ...window.nearkitDemo.explorer.view }));
    await page.mouse.move(exBox.x + 400, exBox.y + 300);
    await page.mouse.down();
    await page.mouse.move(exBox.x + 360, exBox.y + 280, { steps: 4 });
    await page.mouse.up();
    const view1 = await page.evaluate(() => ({ ...window.nearkitDemo.explorer.view }));
    assert.ok(Math.abs((view1.x0 - view0.x0) * view0.scale - 40) < 1e-6 && Math.abs((view1.y0 - view0.y0) * view0.scale - 20) < 1e-6,
      `the drag did not pan the view by (40, 20) pixels: ${JSON.stringify([view0, view1])}`);
    for (const [px, py] of [[410, 300], [200, 150], [650, 480]]) await hoverAndCheck(page, px, py, points, 'l2');
    await hoverAndCheck(page, 402, 310, points, 'l2');
    await page.locator('#explorer').locator('..').screenshot({ path: path.join(outDir, 'demo-explorer-zoomed.png') });

    // Voronoi: pixels against brute force, then add, drag and remove a seed
    await checkVoronoi(page, 'l2');
    const voBox = await page.locator('#voronoi').boundingBox();
    const empty = await page.evaluate(() => {
      const seeds = window.nearkitDemo.voronoi.seeds;
      for (let y = 30; y < 570; y += 20) for (let x = 30; x < 770; x += 20) if (seeds.every((s) => Math.hypot(s.x - x, s.y - y) > 40)) return [x, y];
      return null;
    });
    assert.ok(empty, 'no free place for a new seed');
    await nextFrame(page, async () => {
      await page.mouse.click(voBox.x + empty[0], voBox.y + empty[1]);
    }, SEEDS + 1);
    await checkVoronoi(page, 'l2');
    // drag the new seed 80 pixels right and 50 down
    await page.mouse.move(voBox.x + empty[0], voBox.y + empty[1]);
    await page.mouse.down();
    const to = [Math.min(empty[0] + 80, 790), Math.min(empty[1] + 50, 590)];
    await page.mouse.move(voBox.x + to[0], voBox.y + to[1], { steps: 8 });
    await page.mouse.up();
    await waitFor(page, ([x, y]) => {
      const s = window.nearkitDemo.voronoi.drawnSeeds.at(-1);
      return Math.abs(s.x - x) < 0.01 && Math.abs(s.y - y) < 0.01;
    }, to);
    await checkVoronoi(page, 'l2');
    await nextFrame(page, async () => {
      await page.mouse.click(voBox.x + to[0], voBox.y + to[1], { button: 'right' });
    }, SEEDS);
    await checkVoronoi(page, 'l2');
    await page.locator('#voronoi').locator('..').screenshot({ path: path.join(outDir, 'demo-voronoi-l2.png') });

    // the other metrics, with the flat index for the seeds: the cells change shape
    await page.selectOption('#voronoi-kind', 'flat');
    for (const metric of ['l1', 'linf']) {
      await page.selectOption('#metric', metric);
      await waitFor(page, (m) => window.nearkitDemo.voronoi.metric === m && window.nearkitDemo.explorer.ready && window.nearkitDemo.explorer.metric === m, metric);
      await checkVoronoi(page, metric);
      await hoverAndCheck(page, 380, 260, points, metric);
      await page.locator('#voronoi').locator('..').screenshot({ path: path.join(outDir, `demo-voronoi-${metric}.png`) });
    }
    assert.deepEqual(errors, [], 'errors on the page');
    console.log(`ok: hovers, zoom, pan, Voronoi add / drag / remove and l2, l1, linf checked; screenshots in ${outDir}`);
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
