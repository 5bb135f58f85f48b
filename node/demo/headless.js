'use strict';
// What the demo's end-to-end test (e2e.js) and bench/demo_latency.mjs share: starting the demo
// server on a free port and Debian's Chromium, headless, under playwright-core (from npm; it never
// downloads a browser). Not part of the npm package.

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const CHROMIUM = process.env.NEARKIT_CHROMIUM || '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps trying hosts this machine cannot reach.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// playwright-core from node/'s own node_modules, or npm's global folder (ci/deps-demo.sh installs
// it there, so node/ needs no lock file); null when neither has it.
function loadPlaywright() {
  try {
    return require('playwright-core');
  } catch {
    try {
      const root = execFileSync('npm', ['root', '--global'], { encoding: 'utf8' }).trim();
      return require(path.join(root, 'playwright-core'));
    } catch {
      return null;
    }
  }
}

// Why the browser tests cannot run here, or null when they can.
function browserMissing() {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} not found (ci/deps-demo.sh installs Debian's chromium)`;
  if (!loadPlaywright()) return 'playwright-core not found (ci/deps-demo.sh installs it with npm)';
  return null;
}

// A persistent context in a new, empty profile directory, removed again by close().
async function launchBrowser(viewport = { width: 1720, height: 760 }) {
  const { chromium } = loadPlaywright();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'nearkit-demo-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport,
  });
  const page = context.pages()[0] || (await context.newPage());
  return {
    page,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Starts node/demo/server.js on a free port; resolves with its address once it listens.
function startServer() {
  const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('exit', (code) => reject(new Error(`the demo server exited with ${code} before listening`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /http:\/\/\S+\//.exec(out);
      if (m) {
        child.removeAllListeners('exit');
        resolve({ url: m[0], close: () => child.kill() });
      }
    });
  });
}

module.exports = { CHROMIUM, CHROMIUM_ARGS, browserMissing, launchBrowser, startServer };
