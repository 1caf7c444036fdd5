/**
 * Isolation, measured on two REAL distribution registries on 127.0.0.1, one of them behind a TCP proxy that holds
 * every chunk the client sends for DELAY_MS: the other registry's workload is updated, and an Alertmanager
 * rollback of it carried out, while the slow registry's lane still waits. Workloads are the in-memory target (the
 * slowness under test is the registry's); the loop, the registry client and both registries are real.
 */
import * as net from 'node:net';
import { systemClock } from '../../agent/clock';
import { HealthGate } from '../../agent/health/gate';
import { Reconciler } from '../../agent/loop';
import { DistributionClient } from '../../agent/registry';
import { TriggerEvent } from '../../agent/types';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { waitFor } from '../support/tools';
import { FakeSlo, FakeTarget, harness } from './fakes';

const DELAY_MS = 6000;

let slowReg: TestRegistry;
let fastReg: TestRegistry;
let proxy: net.Server;
let proxyPort: number;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  slowReg = await startRegistry();
  fastReg = await startRegistry();
  for (const tag of ['1.0.0', '1.1.0']) {
    await pushEmptyImage(slowReg, 'models/slow', tag);
    await pushEmptyImage(fastReg, 'models/fast', tag);
  }
  proxy = net.createServer((client) => {
    const upstream = net.connect(slowReg.port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => { setTimeout(() => { if (!upstream.destroyed) upstream.write(chunk); }, DELAY_MS).unref(); });
    upstream.pipe(client);
    const close = (): void => { client.destroy(); upstream.destroy(); };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = (proxy.address() as net.AddressInfo).port;
}, 120_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
  await slowReg?.stop();
  await fastReg?.stop();
});

test("a slow registry delays neither the other registry's update nor an alert rollback", async () => {
  const h = harness();
  const target = new FakeTarget();
  const slowImage = `127.0.0.1:${proxyPort}/models/slow:1.0.0`;
  target.add('slow', slowImage, { model: 'slow' });
  target.add('fast', `${fastReg.host}/models/fast:1.0.0`, { model: 'fast' });
  const slo = new FakeSlo();
  const reconciler = new Reconciler({
    targets: [target], registry: new DistributionClient({ requestTimeoutMs: 60_000 }),
    gate: new HealthGate({ readinessTimeoutMs: 5000, slo, inconclusive: 'hold' }),
    quarantine: h.quarantine, audit: h.audit, metrics: h.metrics, clock: systemClock, pollIntervalMs: 3_600_000,
  });
  const ctl = new AbortController();
  let emit: (e: TriggerEvent) => void = () => undefined;
  const t0 = Date.now();
  const running = reconciler.run([{ start: async (e) => { emit = e; } }], ctl.signal);

  await waitFor(() => target.get('fast').image.includes(':1.1.0@sha256:'), { what: 'fast to be promoted', timeoutMs: DELAY_MS });
  const promotedAfter = Date.now() - t0;
  expect(target.get('slow').image).toBe(slowImage); // its registry has not answered yet

  const t1 = Date.now();
  emit({ source: 'webhook:alertmanager', rollback: { model: 'fast', version: '1.1.0', reason: 'ModelHighErrorRate firing' } });
  await waitFor(() => target.get('fast').image.includes(':1.0.0'), { what: 'fast to be rolled back', timeoutMs: DELAY_MS });
  const rolledBackAfter = Date.now() - t1;
  expect(h.quarantine.isQuarantined('fast', '1.1.0')).toBe(true);
  expect(target.get('slow').image).toBe(slowImage);

  // the slow lane finishes on its own time
  await waitFor(() => target.get('slow').image.includes(':1.1.0@sha256:'), { what: 'slow to be promoted', timeoutMs: 10 * DELAY_MS });
  const slowAfter = Date.now() - t0;
  ctl.abort();
  await running;
  expect(promotedAfter).toBeLessThan(slowAfter);
  console.log(`registry delaying every request ${DELAY_MS} ms: the other registry's update promoted after ${promotedAfter} ms, `
    + `its alert rollback done ${rolledBackAfter} ms after the alert, the slow registry's update after ${slowAfter} ms`);
}, 180_000);
