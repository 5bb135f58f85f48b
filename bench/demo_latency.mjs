// The web demo's two figures (issue 22), printed as name=value lines:
//   hover_*    k-NN latency of hover queries (k = 10) over 1,000,000 2-D points in a vptree, as the
//              demo server measures each search (query_ms), and the HTTP round trip seen by this
//              client (round_trip_ms); p50 and p99 of HOVERS queries sent one after another
//   voronoi_*  frames per second of the live Voronoi view at 800 x 600 with 50 seeds, animated,
//              by the page's own timing in headless Debian Chromium, for each seed index kind, and
//              the median search time of a frame's batch 1-NN call (480,000 pixel centres)
// Usage: node bench/demo_latency.mjs [hovers=5000] [seconds=8]
// Needs the built addon (cd node && npm run build), Debian's chromium and playwright-core
// (ci/deps-demo.sh).
import { createRequire } from 'module';

const require = createRequire(import.meta.url);
const { browserMissing, launchBrowser, startServer } = require('../node/demo/headless.js');

const HOVERS = Number(process.argv[2] || 5000);
const SECONDS = Number(process.argv[3] || 8);
const POINTS = 1000000;
const K = 10;

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// A fixed sequence of hover positions (a small LCG), so runs ask the same queries.
function* hoverPositions(n) {
  let s = 12345;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  for (let i = 0; i < n; i++) yield [next(), next()];
}

async function measureHover(url) {
  const loaded = await fetch(`${url}api/dataset?n=${POINTS}&metric=l2&kind=vptree`);
  await loaded.arrayBuffer();
  const query = [];
  const roundTrip = [];
  for (const [x, y] of hoverPositions(HOVERS)) {
    const t0 = performance.now();
    const res = await fetch(`${url}api/knn?x=${x}&y=${y}&k=${K}`);
    const body = await res.json();
    roundTrip.push(performance.now() - t0);
    if (!res.ok || body.ids.length !== K) throw new Error(`hover failed: ${JSON.stringify(body)}`);
    query.push(body.queryMs);
  }
  console.log(`hover_points=${POINTS}`);
  console.log(`hover_k=${K}`);
  console.log(`hover_queries=${HOVERS}`);
  console.log(`hover_query_ms_p50=${percentile(query, 50).toFixed(4)}`);
  console.log(`hover_query_ms_p99=${percentile(query, 99).toFixed(4)}`);
  console.log(`hover_round_trip_ms_p50=${percentile(roundTrip, 50).toFixed(3)}`);
  console.log(`hover_round_trip_ms_p99=${percentile(roundTrip, 99).toFixed(3)}`);
}

async function measureVoronoi(url, kind) {
  const browser = await launchBrowser({ width: 1720, height: 900 });
  try {
    const { page } = browser;
    // a small explorer data set, so that only the Voronoi view works during the measurement
    await page.goto(`${url}?points=10000&seeds=50&vkind=${kind}&animate=1`);
    await page.waitForFunction(() => window.nearkitDemo.voronoi.frames >= 3, null, { timeout: 60000 });
    const start = await page.evaluate(() => [window.nearkitDemo.voronoi.frames, performance.now(), window.nearkitDemo.voronoi.queryLog.length]);
    await page.waitForTimeout(SECONDS * 1000);
    const [frames, now, queries] = await page.evaluate(([from]) => {
      const vo = window.nearkitDemo.voronoi;
      return [vo.frames, performance.now(), vo.queryLog.slice(from)];
    }, [start[2]]);
    const fps = ((frames - start[0]) * 1000) / (now - start[1]);
    console.log(`voronoi_${kind}_fps=${fps.toFixed(1)}`);
    console.log(`voronoi_${kind}_query_ms_p50=${percentile(queries, 50).toFixed(1)}`);
  } finally {
    await browser.close();
  }
}

const missing = browserMissing();
const server = await startServer();
try {
  await measureHover(server.url);
  console.log('voronoi_width=800');
  console.log('voronoi_height=600');
  console.log('voronoi_seeds=50');
  if (missing) console.log(`voronoi_skipped=${JSON.stringify(missing)}`);
  else for (const kind of ['vptree', 'flat']) await measureVoronoi(server.url, kind);
} finally {
  server.close();
}
