/**
 * Opens the report page in a real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): every chart renders, nothing is logged as an error, no request leaves the
 * machine, a layer named <script> shows as text, tooltips work. Writes a screenshot to
 * test-output/report.png. Chromium is required: .ci/run installs it; without it this test fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { packageRoot } from '../../src/paths.js';
import { buildReport } from '../../src/report/index.js';
import { fixtureRuns } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
const EVIL = '<script>window.__pwned = 1; alert("pwned")</script>';

test('the report page renders every chart offline in headless Chromium', { timeout: 120_000 }, async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} is missing: the browser test needs Debian's chromium (apt-get install -y chromium; .ci/run installs it)`,
  );
  const outDir = join(packageRoot(), 'test-output', 'report-browser');
  rmSync(outDir, { recursive: true, force: true });
  const runs = fixtureRuns();
  // a hostile layer name, label and config string: they must show as text
  for (const run of runs.filter((r) => r.group === 'lenet-mnist-imp-bound')) {
    run.label = EVIL;
    (run.config as { note?: string }).note = EVIL;
    for (const rec of run.records) {
      rec.layers[1]!.name = EVIL;
      for (const d of rec.decisions ?? []) if (d.layer === 'fc2.weight') d.layer = EVIL;
    }
  }
  await buildReport({ runs, outDir, formats: ['html'] });
  const page = join(outDir, 'report.html');

  const userDataDir = mkdtempSync(join(tmpdir(), 'ramanujan-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1600, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const problems: string[] = [];
  const external: string[] = [];
  try {
    await browser.route('**/*', async (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      external.push(url);
      return route.abort();
    });
    const tab = browser.pages()[0] ?? (await browser.newPage());
    tab.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`);
    });
    tab.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    tab.on('dialog', (d) => {
      problems.push(`dialog opened: ${d.message()}`);
      void d.dismiss();
    });
    await tab.goto(pathToFileURL(page).href);
    await tab.waitForSelector('body[data-charts-done]', { timeout: 60_000 });

    // 3 charts for the IMP group, 4 for the Bound group (with decisions), 1 across runs
    const charts = await tab.$$eval('.chart', (els) =>
      els.map((el) => ({
        rendered: el.getAttribute('data-rendered'),
        marks: el.querySelectorAll('svg.marks path, svg.marks line, svg.marks rect, svg.marks text').length,
        width: el.querySelector('svg.marks')?.getBoundingClientRect().width ?? 0,
        height: el.querySelector('svg.marks')?.getBoundingClientRect().height ?? 0,
      })),
    );
    assert.equal(charts.length, 8);
    for (const [i, c] of charts.entries()) {
      assert.equal(c.rendered, 'true', `chart ${i} did not render`);
      assert.ok(c.marks > 20, `chart ${i} has only ${c.marks} marks`);
      assert.ok(c.width > 200 && c.height > 150, `chart ${i} is ${c.width}x${c.height}`);
    }

    // the hostile strings are shown as text and did not run
    assert.equal(await tab.evaluate(() => (globalThis as { __pwned?: number }).__pwned), undefined);
    const labelCells = await tab.$$eval('table.runs td', (tds) => tds.map((td) => td.textContent ?? ''));
    assert.ok(labelCells.includes(EVIL), 'the run label is shown verbatim as text');
    const configs = await tab.$$eval('pre.config', (els) => els.map((e) => e.textContent ?? ''));
    assert.ok(configs.some((t) => t.includes(JSON.stringify(EVIL))), 'the config string is shown as JSON text');
    const svgTexts = await tab.$$eval('.chart svg text', (els) => els.map((e) => e.textContent ?? ''));
    assert.ok(svgTexts.some((t) => t.includes('<script>window.__pwned')), 'the layer name appears as chart text');

    // a tooltip: hover a point of the first group's accuracy chart
    const point = tab.locator('.chart').nth(2).locator('svg .mark-symbol path').first();
    await point.hover({ force: true });
    const tooltip = tab.locator('#vg-tooltip-element');
    await tooltip.waitFor({ state: 'visible', timeout: 5_000 });
    assert.match((await tooltip.textContent()) ?? '', /accuracy/);

    mkdirSync(join(packageRoot(), 'test-output'), { recursive: true });
    await tab.mouse.move(0, 0);
    await tab.screenshot({ path: join(packageRoot(), 'test-output', 'report.png'), fullPage: true });
  } finally {
    await browser.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  assert.deepEqual(external, [], 'requests left the machine');
  assert.deepEqual(problems, []);
});
