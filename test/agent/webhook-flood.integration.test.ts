/**
 * The webhook server under a flood, in its own process (so its RSS is its own): unauthenticated senders each
 * declaring a 1 MiB − 1 byte body, senders with a forged signature, slow senders that never finish, malformed
 * requests and replays of one valid signed alert, all at once from 127.0.0.1. Bounded: a fixed number of
 * connections, each given at most 20 s. Asserts the server acts exactly once (the one valid delivery), refuses the
 * rest, and its RSS stays near its baseline during and after the flood.
 */
import { ChildProcess, fork } from 'node:child_process';
import { createHmac } from 'node:crypto';
import * as net from 'node:net';
import * as path from 'node:path';

jest.setTimeout(120_000);

const TOKEN = 'flood-token-0123456789abcdef';
const SECRET = 'flood-secret-0123456789abcdef';
let child: ChildProcess;
let port: number;

type Stats = { rssKiB: number; events: unknown[] };
const ask = (): Promise<Stats> => new Promise((resolve) => {
  child.once('message', (m) => resolve(m as Stats));
  child.send('stats');
});

beforeAll(async () => {
  child = fork(path.join(__dirname, 'fixtures/webhook-server.ts'), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'], env: { ...process.env, TOKEN, SECRET }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  port = await new Promise<number>((resolve) => child.once('message', (m) => resolve((m as { port: number }).port)));
});

afterAll(async () => {
  if (child?.exitCode === null) {
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
  }
});

/** One raw connection: writes `head`, then `bodyBytes` bytes of body in 64 KiB chunks (or `stall` after `stallAt`); resolves with the status line. */
function raw(head: string, bodyBytes: number, stallAt = Infinity): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let answer = '';
    const done = (): void => { clearTimeout(timer); s.destroy(); resolve(answer.split('\r\n')[0] || 'closed'); };
    const timer = setTimeout(done, 20_000);
    s.on('data', (b) => { answer += b.toString(); if (answer.includes('\r\n\r\n')) done(); });
    s.on('error', done);
    s.on('close', done);
    s.on('connect', () => {
      s.write(head);
      let sent = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (sent < Math.min(bodyBytes, stallAt)) {
          const n = Math.min(chunk.length, bodyBytes - sent, stallAt - sent);
          sent += n;
          if (!s.write(chunk.subarray(0, n))) { s.once('drain', pump); return; }
        }
      };
      pump();
    });
  });
}

const post = (route: string, headers: Record<string, string>, length: number): string =>
  `POST ${route} HTTP/1.1\r\nHost: agent\r\nContent-Length: ${length}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;

test('a flood of unauthenticated, forged, slow, malformed and replayed webhooks: one action, RSS near baseline', async () => {
  const before = await ask();
  const ts = String(Math.floor(Date.now() / 1000));
  const alert = JSON.stringify({ version: '4', status: 'firing', receiver: 'modelpilot', groupKey: 'g', alerts: [
    { status: 'firing', startsAt: new Date().toISOString(), labels: { alertname: 'ModelErrorRateHigh', model: 'recsys', version: '1.1.0', modelpilot_action: 'rollback' } },
  ] });
  const signed = { 'X-Modelpilot-Timestamp': ts, 'X-Modelpilot-Signature': `sha256=${createHmac('sha256', SECRET).update(`${ts}.${alert}`).digest('hex')}` };
  const forged = { 'X-Modelpilot-Timestamp': ts, 'X-Modelpilot-Signature': `sha256=${'0'.repeat(64)}` };
  const ONE_MIB = 1024 * 1024 - 1;

  // the valid delivery first, so that every copy after it is a replay
  const first = await raw(post('/webhooks/alertmanager', signed, Buffer.byteLength(alert)) + alert, 0);
  let peakKiB = before.rssKiB;
  const sampler = setInterval(() => { void ask().then((s) => { peakKiB = Math.max(peakKiB, s.rssKiB); }); }, 200);
  const flood = [
    ...Array.from({ length: 300 }, () => raw(post('/webhooks/model', {}, ONE_MIB), ONE_MIB)), // no credentials, 1 MiB − 1 each
    ...Array.from({ length: 60 }, () => raw(post('/webhooks/model', forged, ONE_MIB), ONE_MIB)), // forged signature: read, then refused
    ...Array.from({ length: 40 }, () => raw(post('/webhooks/model', forged, ONE_MIB), ONE_MIB, 200_000)), // slow: 200 kB, then nothing
    ...Array.from({ length: 20 }, () => raw('GARBAGE / HTTP/9.9\r\n\r\n', 0)),
    ...Array.from({ length: 20 }, () => raw(post('/webhooks/alertmanager', signed, Buffer.byteLength(alert)) + alert, 0)), // replays
  ];
  const statuses = await Promise.all(flood);
  clearInterval(sampler);
  await new Promise((r) => setTimeout(r, 2000));
  const after = await ask();

  const count = (xs: string[]): Record<string, number> => xs.reduce<Record<string, number>>((m, x) => ({ ...m, [x]: (m[x] ?? 0) + 1 }), {});
  console.log(`webhook flood: RSS before ${Math.round(before.rssKiB / 1024)} MiB, peak ${Math.round(peakKiB / 1024)} MiB, after ${Math.round(after.rssKiB / 1024)} MiB; `
    + `answers ${JSON.stringify(count(statuses))}`);
  expect(first).toBe('HTTP/1.1 202 Accepted');
  // exactly one action: the valid delivery; nothing else was emitted
  expect(after.events).toHaveLength(1);
  expect(statuses.filter((s) => / 2\d\d /.test(s))).toEqual([]);
  expect(statuses.slice(0, 300).every((s) => s === 'HTTP/1.1 401 Unauthorized' || s === 'HTTP/1.1 429 Too Many Requests' || s === 'closed')).toBe(true);
  expect(statuses.slice(0, 300).filter((s) => s === 'HTTP/1.1 401 Unauthorized').length).toBeGreaterThan(0);
  // memory: the flood is ~420 MiB of bodies; the server holds at most its 8 MiB budget of them at once
  expect(peakKiB - before.rssKiB).toBeLessThan(100 * 1024);
  expect(after.rssKiB - before.rssKiB).toBeLessThan(60 * 1024);
});
