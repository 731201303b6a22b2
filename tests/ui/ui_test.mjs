// Headless Chromium drives the dashboard of a real server (run.sh builds it and installs
// playwright-core; no browser is downloaded: Debian's /usr/bin/chromium is used).
//
// Steps: load /ui, wait for the live SSE connection, approve requirements.md from the
// review queue and see its badge turn "approved" (and spec.json record channel
// "dashboard"), request changes on design.md with a comment, then edit requirements.md on
// disk and see "edited after approval" appear without a reload. A screenshot is saved to
// UI_SCREENSHOT (default target/ui-screenshot.png). Talks to 127.0.0.1 only; kills only
// the server it spawned.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, appendFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const DEADLINE_MS = 20_000;
const root = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const bin = process.env.MCP_SERVER_BIN;
const screenshot = resolve(root, process.env.UI_SCREENSHOT || 'target/ui-screenshot.png');
const chromiumPath = process.env.UI_CHROMIUM || '/usr/bin/chromium';

let passed = 0;
const step = (name) => { passed += 1; console.error(`ui: ok ${passed} ${name}`); };

function startServer(workspace) {
  const child = spawn(bin, ['--transport', 'http-stream', '--host', '127.0.0.1', '--port', '0',
    '--workspace', workspace], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const url = new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'listening on' line:\n${log}`)), DEADLINE_MS);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) { clearTimeout(timer); resolveUrl(m[1]); }
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}):\n${log}`)));
  });
  return { child, url, log: () => log };
}

async function main() {
  if (!bin) throw new Error('MCP_SERVER_BIN is required');
  const workspace = mkdtempSync(join(tmpdir(), 'mcp-ui-ws-'));
  const profile = mkdtempSync(join(tmpdir(), 'mcp-ui-profile-'));
  const spec = join(workspace, 'specs/todo-export');
  cpSync(join(root, 'tests/fixtures/specs/todo-export'), spec, { recursive: true });
  const server = startServer(workspace);
  let context;
  try {
    const base = await server.url;
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-quic'],
      viewport: { width: 1200, height: 900 },
    });
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(DEADLINE_MS);
    const failures = [];
    page.on('pageerror', (e) => failures.push(String(e)));
    page.on('requestfailed', (r) => { if (!r.url().endsWith('/ui/events')) failures.push(`request failed: ${r.url()}`); });

    await page.goto(`${base}/ui`);
    await page.waitForFunction(() => document.getElementById('status').textContent === 'live');
    step('page loaded, live over SSE');
    await page.evaluate(() => { window.__notReloaded = true; });

    const row = (doc) => `section[data-spec="todo-export"] tr[data-doc="${doc}"]`;
    const item = (doc) => `li[data-spec="todo-export"][data-doc="${doc}"]`;
    await page.waitForSelector(`${row('requirements')} [data-status="draft"]`);
    await page.click(`${item('requirements')} button[data-decision="approve"]`);
    await page.waitForSelector(`${row('requirements')} [data-status="approved"]`);
    await page.waitForSelector(item('requirements'), { state: 'detached' });
    const state = JSON.parse(readFileSync(join(spec, 'spec.json'), 'utf8'));
    if (state.documents.requirements.approval?.channel !== 'dashboard') {
      throw new Error(`spec.json: ${JSON.stringify(state.documents.requirements)}`);
    }
    step('approve: badge turned approved, spec.json records channel dashboard');

    // A live update while a comment is being typed keeps the text (it used to be wiped by
    // the re-render, which also made this step flaky when a late update arrived).
    await page.fill(`${item('design')} textarea`, 'name the <export> format');
    const before = await page.evaluate(() => Number(document.body.dataset.generation || 0));
    appendFileSync(join(spec, 'tasks.md'), '\n<!-- touched while a comment is typed -->\n');
    await page.waitForFunction((g) => Number(document.body.dataset.generation || 0) > g, before);
    const kept = await page.inputValue(`${item('design')} textarea`);
    if (kept !== 'name the <export> format') throw new Error(`comment after a live update: ${JSON.stringify(kept)}`);
    step('a live update keeps the comment being typed');
    await page.click(`${item('design')} button[data-decision="request_changes"]`);
    await page.waitForSelector(`${row('design')} [data-status="changes_requested"]`);
    const note = await page.textContent(`${row('design')} .note`);
    if (!note.includes('name the <export> format')) throw new Error(`note shown as ${note}`);
    step('request changes with a comment (shown as text, not markup)');

    appendFileSync(join(spec, 'requirements.md'), '\n<!-- edited outside the dashboard -->\n');
    await page.waitForSelector(`${row('requirements')} .badge.edited`);
    await page.waitForSelector(`${row('requirements')} [data-status="draft"]`);
    if (!(await page.evaluate(() => window.__notReloaded === true))) throw new Error('the page reloaded');
    step('an edit on disk shows "edited after approval" without a reload');

    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    step(`screenshot saved to ${screenshot}`);
    if (failures.length) throw new Error(`browser errors: ${failures.join('; ')}`);
  } finally {
    if (context) await context.close();
    server.child.kill('SIGTERM');
    rmSync(workspace, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}

main().then(() => {
  console.error(`ui: ${passed} passed, 0 failed`);
}, (e) => {
  console.error(`ui: FAILED after ${passed} passed: ${e.stack || e}`);
  process.exitCode = 1;
});
