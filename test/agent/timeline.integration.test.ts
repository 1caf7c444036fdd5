/**
 * `modelpilot history --html` in a real browser: an agent loop against the real distribution registry writes an
 * audit log (1.0.0 → 1.1.0 promoted with its SLO values; 1.2.0 fails the gate, is rolled back and quarantined; an
 * operator hold), the CLI renders it, and headless Chromium (Debian's `chromium`, driven by playwright-core with its
 * executablePath) loads the page: an element for each entry, the served versions on the time axis, the markers, the
 * filters; a screenshot is taken; and the page fetches nothing from the network.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { chromium } from 'playwright-core';
import { run as history } from '../../bin/commands/history';
import { capture } from '../support/cli';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { harness, realRegistry } from './fakes';

const CHROMIUM = process.env.MODELPILOT_CHROMIUM ?? '/usr/bin/chromium';
let reg: TestRegistry;
let dir: string;
const digests: Record<string, string> = {};

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing; run scripts/install-test-tools.sh (installs Debian's chromium) or set MODELPILOT_CHROMIUM`);
  reg = await startRegistry();
  for (const v of ['1.0.0', '1.1.0', '1.2.0']) digests[v] = await pushEmptyImage(reg, 'models/timeline', v);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-timeline-'));
}, 120_000);
afterAll(async () => {
  await reg?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A real run: the agent loop on the real registry (fake workload target), leaving its audit log in `dir`. */
async function realRun(): Promise<string> {
  const registry = realRegistry();
  const h = harness({ registry, dir });
  const image = `${reg.host}/models/timeline`;
  h.target.add('recsys', `${image}:1.0.0@${digests['1.0.0']}`, { policy: 'semver:minor' });
  h.slo.evidence = { requests: 1200, errors: 3, errorRatio: 0.0025, p99Seconds: 0.18 }; // what the healthy verdict measured
  h.slo.verdicts.set('1.2.0', 'Unhealthy');
  await h.reconciler.runCycle([{ source: 'poll' }]); // 1.0.0 -> 1.2.0 rolled back, quarantined
  h.clock.advance(60_000);
  await h.reconciler.runCycle([{ source: 'poll' }]); // 1.0.0 -> 1.1.0 promoted (1.2.0 quarantined)
  h.overrides.hold({ model: 'recsys', reason: 'incident 4711', since: h.clock.now().toISOString(), source: 'operator' });
  h.clock.advance(60_000);
  await h.reconciler.runCycle([{ source: 'poll' }]);
  return path.join(dir, 'audit.jsonl');
}

test('the page renders the real audit log: every entry, the versions served, the markers, working filters, no network', async () => {
  const audit = await realRun();
  const out = path.join(dir, 'timeline.html');
  const r = await capture(() => history(['--file', audit, '--html', out]));
  expect(r.code).toBe(0);
  const entries = fs.readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string });
  expect(entries.map((e) => e.event)).toEqual(expect.arrayContaining(['promoted', 'rolled-back', 'quarantined', 'hold']));

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const requested: string[] = [];
    page.on('request', (q) => requested.push(q.url()));
    await page.goto(`file://${out}`);
    expect(await page.locator('tr.event').count()).toBe(entries.length);
    for (const ev of ['promoted', 'rolled-back', 'quarantined', 'hold', 'verify']) {
      expect(await page.locator(`tr.ev-${ev}`).count()).toBeGreaterThan(0);
    }
    // every version that served, the bad one's seconds in production drawn as failed (#28)
    expect(await page.locator('section.workload .seg').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-version')} ${e.getAttribute('data-state')}`)))
      .toEqual(['1.0.0 served', '1.2.0 failed', '1.0.0 served', '1.1.0 proven']);
    expect(await page.locator('tr.ev-rolled-back.bad').count()).toBe(1);
    expect(await page.locator('.mark.m-rolled-back').count()).toBe(1);
    expect(await page.locator('.mark.m-quarantined').count()).toBe(1);
    expect(await page.locator('.mark.m-hold').count()).toBe(1);
    expect(await page.locator('tr.ev-verify .evidence').first().textContent()).toContain('p99Seconds=0.1800');
    // filters: only rollbacks; then a text search
    for (const box of await page.locator('.f-event').all()) {
      if (await box.getAttribute('value') !== 'rolled-back') await box.uncheck();
    }
    expect(await page.locator('tr.event:not(.hidden)').count()).toBe(1);
    expect(await page.locator('#shown').textContent()).toBe(`1 of ${entries.length} shown`);
    for (const box of await page.locator('.f-event').all()) await box.check();
    await page.fill('#f-text', 'incident 4711');
    expect(await page.locator('tr.event:not(.hidden)').count()).toBe(1);
    await page.fill('#f-text', '');
    // not the README's figure (that one comes from the real engine: test/compose/compose-bundle.integration.test.ts)
    const shot = path.join(process.env.MODELPILOT_SCREENSHOT_DIR ?? dir, 'timeline-loop.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
    expect(requested).toEqual([`file://${out}`]);
  } finally {
    await browser.close();
  }
}, 120_000);
