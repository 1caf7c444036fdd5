/**
 * The wired agent (startAgent) with in-memory fakes of the registry and target, but its real HTTP server,
 * metrics, quarantine store and audit log; and the `modelpilot agent` process itself, stopped with SIGTERM.
 */
import { spawn } from 'child_process';
import { createHmac } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import { parseConfig } from '../../agent/config';
import { AgentHandle, startAgent } from '../../agent/main';
import { FakeRegistry, FakeTarget, REPO, ref, tmpDir } from './fakes';

/** X-Modelpilot-Signature over '<timestamp>.<body>' with X-Modelpilot-Timestamp (docs/agent.md). */
const signed = (body: string): Record<string, string> => {
  const ts = String(Math.floor(Date.now() / 1000));
  return { 'x-modelpilot-timestamp': ts, 'x-modelpilot-signature': `sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}` };
};

jest.setTimeout(60_000);

const TOKEN = 'test-token-0123456789abcdef';
const SECRET = 'hmac-secret-0123456789abcdef';

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('startAgent', () => {
  let agent: AgentHandle | undefined;
  // The synthetic probe target: no Prometheus here, so every SLO verdict is Inconclusive and the probe decides.
  let model: http.Server;
  let probeUrl: string;
  beforeAll(async () => {
    model = http.createServer((_req, res) => res.writeHead(200).end('ok'));
    await new Promise<void>((r) => model.listen(0, '127.0.0.1', r));
    probeUrl = `http://127.0.0.1:${(model.address() as net.AddressInfo).port}/health/ready`;
  });
  afterAll(async () => {
    await new Promise((r) => {
      model.close(r);
      model.closeAllConnections();
    });
  });
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  function setup(extra: Record<string, unknown> = {}) {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'token'), TOKEN + '\n');
    fs.writeFileSync(path.join(dir, 'secret'), SECRET);
    const config = parseConfig({
      targets: { docker: { socket: path.join(dir, 'unused.sock') } },
      pollInterval: '1h',
      health: { readinessTimeout: '5s', bakeWindow: '0s', inconclusive: 'probe', probe: { url: probeUrl, count: 2, interval: '10ms' } },
      webhooks: { listen: '127.0.0.1:0', bearerTokenFile: path.join(dir, 'token'), hmacSecretFile: path.join(dir, 'secret') },
      stateDir: dir,
      log: { level: 'error' },
      ...extra,
    });
    const registry = new FakeRegistry(REPO, ['1.0.0', '1.1.0']);
    const target = new FakeTarget('docker');
    target.add('recsys', `${REPO}:1.0.0`);
    return { dir, config, registry, target };
  }

  test('updates at once, then on an authenticated webhook; forged and malformed webhooks change nothing', async () => {
    const { config, registry, target } = setup();
    {
      agent = await startAgent(config, { registry, targets: [target] });
      const base = `http://127.0.0.1:${agent.port}`;
      await until(() => target.get('recsys').image === ref('1.1.0') && !target.get('recsys').inFlight, 'the startup cycle to update 1.0.0 → 1.1.0');

      // a new version is pushed; the poll is an hour away, the webhook makes it happen now
      registry.push(REPO, '1.2.0');
      const forged = await fetch(`${base}/webhooks/model`, {
        method: 'POST', headers: { authorization: 'Bearer wrong-token-000000000', 'content-type': 'application/json' },
        body: JSON.stringify({ event: 'model.updated', model_name: 'recsys', version: '1.2.0' }),
      });
      expect(forged.status).toBe(401);
      const badSig = await fetch(`${base}/webhooks/model`, {
        method: 'POST', headers: { 'x-modelpilot-signature': `sha256=${'0'.repeat(64)}`, 'x-modelpilot-timestamp': String(Math.floor(Date.now() / 1000)) },
        body: JSON.stringify({ event: 'model.updated', model_name: 'recsys', version: '1.2.0' }),
      });
      expect(badSig.status).toBe(401);
      const malformedBody = '{"event": "model.updated", ';
      const malformed = await fetch(`${base}/webhooks/model`, {
        method: 'POST', headers: signed(malformedBody), body: malformedBody,
      });
      expect(malformed.status).toBe(400);
      await new Promise((r) => setTimeout(r, 300));
      expect(target.get('recsys').image).toBe(ref('1.1.0'));

      const body = JSON.stringify({ event: 'model.updated', model_name: 'recsys', version: '1.2.0' });
      const accepted = await fetch(`${base}/webhooks/model`, { method: 'POST', headers: signed(body), body });
      expect(accepted.status).toBe(202);
      await until(() => target.get('recsys').image === ref('1.2.0') && !target.get('recsys').inFlight, 'the webhook to update 1.1.0 → 1.2.0');

      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/^modelpilot_updater_updates_total\{result="promoted"\} 2$/m);
      expect(metrics).toMatch(/^modelpilot_updater_cycles_total [2-9]$/m);
      for (const name of ['modelpilot_updater_rollbacks_total', 'modelpilot_updater_failures_total', 'modelpilot_updater_quarantined_versions',
        'modelpilot_updater_last_success_timestamp_seconds', 'process_resident_memory_bytes']) {
        expect(metrics).toContain(`\n${name} `);
      }
    }
  });

  test('an Alertmanager webhook rolls the named version back and quarantines it', async () => {
    const { config, registry, target, dir } = setup();
    target.add('recsys', ref('1.1.0'));
    fs.writeFileSync(path.join(dir, 'audit.jsonl'), JSON.stringify({
      time: '2026-01-01T00:00:00.000Z', event: 'promoted', target: 'docker/recsys', from: `${REPO}:1.0.0`, to: ref('1.1.0'), result: 'ok',
    }) + '\n');
    agent = await startAgent(config, { registry, targets: [target] });
    const body = JSON.stringify({
      version: '4', status: 'firing', receiver: 'modelpilot', groupKey: 'g', truncatedAlerts: 0,
      alerts: [{ status: 'firing', labels: { alertname: 'ModelHighErrorRate', model: 'recsys', version: '1.1.0', modelpilot_action: 'rollback' }, annotations: {} }],
    });
    const res = await fetch(`http://127.0.0.1:${agent.port}/webhooks/alertmanager`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body });
    expect(res.status).toBe(202);
    await until(() => target.get('recsys').image === `${REPO}:1.0.0` && !target.get('recsys').inFlight, 'the alert rollback to 1.0.0');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'quarantine.json'), 'utf8')).entries).toEqual([
      expect.objectContaining({ model: 'recsys', version: '1.1.0', source: 'webhook:alertmanager' }),
    ]);
  });

  test('with webhooks disabled, /healthz and /metrics are still served and webhook routes are 404', async () => {
    const { config, registry, target } = setup({ webhooks: { enabled: false, listen: '127.0.0.1:0' } });
    target.workloads.clear();
    agent = await startAgent(config, { registry, targets: [target] });
    const base = `http://127.0.0.1:${agent.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('modelpilot_updater_cycles_total');
    expect((await fetch(`${base}/webhooks/model`, { method: 'POST', body: '{}' })).status).toBe(404);
  });
});

describe('modelpilot agent (process)', () => {
  async function freePort(): Promise<number> {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    return port;
  }

  test('exits 2 and names every bad key of an invalid config', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'agent.yaml'), 'targets: {}\nhealth: { inconclusive: maybe }\n');
    const { run } = await import('../../bin/commands/agent');
    let err = '';
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s) => { err += String(s); return true; });
    try {
      expect(await run(['--config', path.join(dir, 'agent.yaml')])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(err).toBe(`modelpilot agent: ${path.join(dir, 'agent.yaml')} is invalid:\n`
      + "  - 'targets' value {} names no target; add 'docker: {}' or 'kubernetes: {}'\n"
      + "  - 'health.inconclusive' value 'maybe' must be one of 'hold', 'probe', 'rollback'\n");
  });

  test('runs, logs JSON lines, survives a target it cannot reach, and exits 0 on SIGTERM', async () => {
    const dir = tmpDir();
    const port = await freePort();
    fs.writeFileSync(path.join(dir, 'agent.yaml'), [
      'targets:', `  docker: { socket: ${path.join(dir, 'no-such.sock')} }`, 'pollInterval: 1s',
      `webhooks: { enabled: false, listen: '127.0.0.1:${port}' }`, `stateDir: ${dir}`, '',
    ].join('\n'));
    const child = spawn(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', path.resolve(__dirname, '../../bin/modelpilot.ts'),
      'agent', '--config', path.join(dir, 'agent.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += String(d); });
    child.stderr.on('data', (d) => { out += String(d); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until(async () => {
        try {
          const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
          return /^modelpilot_updater_cycles_total [2-9]/m.test(m);
        } catch {
          return false;
        }
      }, 'two cycles of the agent process', 45_000);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(Number(/^modelpilot_updater_failures_total (\d+)/m.exec(m)![1])).toBeGreaterThanOrEqual(2);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const lines = out.trim().split('\n').filter((l) => l.startsWith('{'));
    const logs = lines.map((l) => JSON.parse(l) as { level: string; msg: string; reason?: string });
    expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['agent starting', 'failure', 'cycle done', 'shutting down', 'agent stopped']));
    expect(logs.find((l) => l.msg === 'failure')!.reason).toMatch(/^discover docker: /);
  });
});
