/**
 * The server as a real process (examples/model-server/src/main.ts on a free port): start-up, readiness during the
 * load delay, SIGTERM drain with a request in flight, crash-on-start, crash when a file appears, bad configuration,
 * drain timeout.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitFor } from '../support/tools';
import { parseMetrics, request, RISKY, sampleValue, ServerProcess, spawnServer } from './helpers';

jest.setTimeout(60_000);

const running: ServerProcess[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
});

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const s = await spawnServer(env);
  running.push(s);
  return s;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    }).once('error', reject);
  });
}

async function inFlight(port: number): Promise<number> {
  const res = await request(port, 'GET', '/metrics');
  return sampleValue(parseMetrics(res.text), 'model_in_flight_requests', { model: 'churn' }) ?? -1;
}

test('readiness is 503 during MODEL_LOAD_DELAY_MS while liveness is 200, then ready', async () => {
  const s = await start({ MODEL_LOAD_DELAY_MS: '6000' });
  expect((await request(s.port, 'GET', '/health/live')).status).toBe(200);
  const early = await request(s.port, 'GET', '/health/ready');
  expect(early.status).toBe(503);
  expect(early.json.status).toBe('loading');
  await waitFor(async () => (await request(s.port, 'GET', '/health/ready')).status === 200, { what: 'readiness after the load delay', timeoutMs: 30_000 });
  expect(s.logs().map((l) => l.msg)).toEqual(expect.arrayContaining(['listening', 'loading model', 'model loaded']));
});

test('MODEL_LISTEN_AFTER_LOAD: nothing answers during the load, liveness included; the port opens ready', async () => {
  const port = await freePort();
  const s = await spawnServer({ PORT: String(port), MODEL_LOAD_DELAY_MS: '4000', MODEL_LISTEN_AFTER_LOAD: 'true' }, { expectListening: false });
  running.push(s);
  await waitFor(() => s.logs().some((l) => l.msg === 'loading model'), { what: 'the load to start', timeoutMs: 20_000, intervalMs: 50 });
  await expect(request(port, 'GET', '/health/live')).rejects.toThrow(/ECONNREFUSED/);
  await waitFor(() => s.logs().some((l) => l.msg === 'listening'), { what: 'the port to open after the load', timeoutMs: 30_000 });
  expect((await request(port, 'GET', '/health/ready')).status).toBe(200);
  const order = s.logs().map((l) => l.msg).filter((m) => ['loading model', 'model loaded', 'listening'].includes(m as string));
  expect(order).toEqual(['loading model', 'model loaded', 'listening']);
});

test('SIGTERM with a request in flight: the request completes, new connections are refused, exit code 0', async () => {
  // GIVEN a prediction held in flight for 4 s by the latency fault
  const s = await start({ MODEL_FAULT_EXTRA_LATENCY_MS: '4000', DRAIN_TIMEOUT_MS: '30000' });
  const pending = request(s.port, 'POST', '/predict', { features: RISKY });
  await waitFor(async () => (await inFlight(s.port)) === 1, { what: 'the prediction to be in flight', timeoutMs: 10_000, intervalMs: 50 });
  // WHEN the process gets SIGTERM
  s.child.kill('SIGTERM');
  // THEN it stops accepting (readiness can no longer be reached) ...
  await waitFor(
    async () =>
      request(s.port, 'GET', '/health/ready').then(
        () => false,
        (err: Error) => /ECONNREFUSED/.test(err.message),
      ),
    { what: 'the listener to close', timeoutMs: 10_000 },
  );
  // ... the in-flight request still gets its answer ...
  const res = await pending;
  expect(res.status).toBe(200);
  expect(res.json.prediction.label).toBe('churns');
  // ... and the process exits 0 after logging the drain
  await expect(s.exited).resolves.toEqual({ code: 0, signal: null });
  const msgs = s.logs().map((l) => l.msg);
  expect(msgs).toEqual(expect.arrayContaining(['signal received', 'draining', 'drained']));
  expect(s.logs().find((l) => l.msg === 'draining')?.inFlight).toBe(1);
});

test('SIGTERM with an idle keep-alive connection: a request sent on it just after is answered, with Connection: close', async () => {
  // GIVEN a client holding one idle keep-alive connection (as a load balancer's or a Service client's pool does)
  const s = await start({});
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (): Promise<{ status: number; connection: string | undefined }> => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: s.port, path: '/health/live', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    }).on('error', reject);
  });
  try {
    expect((await get()).connection).toBe('keep-alive');
    // WHEN the process gets SIGTERM and the client sends its next request on that connection at once
    s.child.kill('SIGTERM');
    await waitFor(() => s.logs().some((l) => l.msg === 'draining'), { what: 'the drain to start', timeoutMs: 10_000, intervalMs: 5 });
    // THEN it is answered (closing the idle connection at the signal would have failed it) and told to close
    expect(await get()).toEqual({ status: 200, connection: 'close' });
    await expect(s.exited).resolves.toEqual({ code: 0, signal: null });
  } finally {
    agent.destroy();
  }
});

test('exits 1 when in-flight requests outlast DRAIN_TIMEOUT_MS', async () => {
  const s = await start({ MODEL_FAULT_EXTRA_LATENCY_MS: '20000', DRAIN_TIMEOUT_MS: '300' });
  const pending = request(s.port, 'POST', '/predict', { features: RISKY }).catch((err: Error) => err.message);
  await waitFor(async () => (await inFlight(s.port)) === 1, { what: 'the prediction to be in flight', timeoutMs: 10_000, intervalMs: 50 });
  s.child.kill('SIGTERM');
  await expect(s.exited).resolves.toEqual({ code: 1, signal: null });
  expect(await pending).toMatch(/socket hang up|ECONNRESET/);
  expect(s.logs().map((l) => l.msg)).toContain('drain timeout passed; closing remaining connections');
});

test('MODEL_FAULT_CRASH_ON_START exits 1 at once, saying why', async () => {
  const s = await spawnServer({ MODEL_FAULT_CRASH_ON_START: 'true' }, { expectListening: false });
  running.push(s);
  await expect(s.exited).resolves.toEqual({ code: 1, signal: null });
  expect(s.logs()).toEqual([expect.objectContaining({ level: 'error', msg: 'crashing on start: fault MODEL_FAULT_CRASH_ON_START is on' })]);
});

test('a bad environment variable exits 2 naming the variable, the value and the fix', async () => {
  const s = await spawnServer({ MODEL_FAULT_ERROR_RATIO: 'lots' }, { expectListening: false });
  running.push(s);
  await expect(s.exited).resolves.toEqual({ code: 2, signal: null });
  expect(s.logs()[0]).toMatchObject({
    msg: 'invalid configuration',
    error: "env MODEL_FAULT_ERROR_RATIO value 'lots' is not a ratio from 0 to 1; set it like MODEL_FAULT_ERROR_RATIO=0.25 (25% of requests fail)",
  });
});

test('a missing model file exits 1 naming the path and MODEL_PATH', async () => {
  const s = await spawnServer({ MODEL_PATH: '/nonexistent/model.json' }, { expectListening: false });
  running.push(s);
  await expect(s.exited).resolves.toEqual({ code: 1, signal: null });
  expect(String(s.logs()[0]?.error)).toMatch(/^cannot read the model file '\/nonexistent\/model\.json' \(.*\); set MODEL_PATH to the model JSON$/);
});

test('MODEL_FAULT_CRASH_WHEN_FILE serves until the file exists, then exits 137 saying why; at a start with the file it exits once ready', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'model-crash-when-'));
  const trigger = path.join(dir, 'crash');
  try {
    const s = await spawnServer({ MODEL_FAULT_CRASH_WHEN_FILE: trigger });
    running.push(s);
    await waitFor(async () => (await request(s.port, 'GET', '/health/ready')).status === 200, { what: 'readiness', timeoutMs: 30_000 });
    expect(s.logs().some((l) => String(l.msg).startsWith('crashing'))).toBe(false);
    fs.writeFileSync(trigger, '');
    await expect(s.exited).resolves.toEqual({ code: 137, signal: null });
    expect(s.logs()).toContainEqual(expect.objectContaining({ level: 'error', msg: 'crashing: fault MODEL_FAULT_CRASH_WHEN_FILE', file: trigger }));
    const again = await spawnServer({ MODEL_FAULT_CRASH_WHEN_FILE: trigger });
    running.push(again);
    await expect(again.exited).resolves.toEqual({ code: 137, signal: null });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('MODEL_FAULT_CRASH_AFTER_MS serves, then exits 137 that long after ready, saying why', async () => {
  const s = await spawnServer({ MODEL_FAULT_CRASH_AFTER_MS: '300' });
  await expect(s.exited).resolves.toEqual({ code: 137, signal: null });
  expect(s.logs()).toContainEqual(expect.objectContaining({ level: 'error', msg: 'crashing: fault MODEL_FAULT_CRASH_AFTER_MS', afterMs: 300 }));
});
