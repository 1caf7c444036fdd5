import { readConfig, ServerConfig } from '../../examples/model-server/src/config';
import { MAX_BODY_BYTES, ModelServer, ModelServerDeps } from '../../examples/model-server/src/server';
import { family, LOYAL, parseMetrics, request, RISKY, sampleValue } from './helpers';

/** A sleep the test releases by hand, so nothing depends on wall-clock timing. */
class Gate {
  public readonly waits: number[] = [];
  private releases: Array<() => void> = [];
  readonly sleep = (ms: number): Promise<void> => {
    this.waits.push(ms);
    return new Promise((resolve) => this.releases.push(resolve));
  };
  get pending(): number {
    return this.releases.length;
  }
  releaseAll(): void {
    const r = this.releases;
    this.releases = [];
    r.forEach((fn) => fn());
  }
}

const started: ModelServer[] = [];

async function startServer(
  env: Record<string, string> = {},
  deps: ModelServerDeps = {},
  load = true,
): Promise<{ server: ModelServer; port: number }> {
  const config: ServerConfig = readConfig({ PORT: '0', HOST: '127.0.0.1', ...env });
  const server = new ModelServer(config, { log: () => undefined, defaultMetrics: false, ...deps });
  started.push(server);
  const addr = await server.listen();
  if (load) await server.load();
  return { server, port: addr.port };
}

afterEach(async () => {
  for (const s of started.splice(0)) {
    if (s.state !== 'stopped') await s.drain();
  }
});

async function metrics(port: number): Promise<ReturnType<typeof parseMetrics>> {
  const res = await request(port, 'GET', '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(res.text);
}

describe('routes', () => {
  test('liveness, readiness and a prediction answer with the model name and version from env', async () => {
    const { port } = await startServer({ MODEL_NAME: 'churn-eu', MODEL_VERSION: '1.4.2' });
    expect((await request(port, 'GET', '/health/live')).json).toEqual({ status: 'live', model: 'churn-eu', version: '1.4.2' });
    expect((await request(port, 'GET', '/health/ready')).json).toEqual({ status: 'ready', model: 'churn-eu', version: '1.4.2' });
    const res = await request(port, 'POST', '/predict', { features: RISKY });
    expect(res.status).toBe(200);
    expect(res.json.model).toBe('churn-eu');
    expect(res.json.version).toBe('1.4.2');
    expect(res.json.prediction.label).toBe('churns');
  });

  test('name and version default to the model file', async () => {
    const { server } = await startServer();
    expect([server.modelName, server.modelVersion]).toEqual(['churn', '1.0.0']);
  });

  test('a batch gets one prediction per instance, in order', async () => {
    const { port } = await startServer();
    const res = await request(port, 'POST', '/predict', { instances: [RISKY, LOYAL, RISKY] });
    expect(res.status).toBe(200);
    expect(res.json.predictions.map((p: { label: string }) => p.label)).toEqual(['churns', 'stays', 'churns']);
  });

  test('unknown paths get 404 naming the routes; wrong methods get 405 with Allow', async () => {
    const { port } = await startServer();
    const notFound = await request(port, 'GET', '/v1/models');
    expect(notFound.status).toBe(404);
    expect(notFound.json.error).toBe('no route /v1/models; use POST /predict, GET /health/live, GET /health/ready or GET /metrics');
    const wrong = await request(port, 'GET', '/predict');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('POST');
    expect(wrong.json.error).toBe('GET is not allowed on /predict; use POST');
  });
});

describe('POST /predict errors', () => {
  test('invalid JSON gets a 400 that says so', async () => {
    const { port } = await startServer();
    const res = await request(port, 'POST', '/predict', '{"features": {');
    expect(res.status).toBe(400);
    expect(res.json.field).toBe('(body)');
    expect(res.json.error).toMatch(/^request body is not valid JSON \(/);
  });

  test('a bad feature gets a 400 naming the field, the value and what is expected', async () => {
    const { port } = await startServer();
    const res = await request(port, 'POST', '/predict', { features: { ...RISKY, tenure_months: -3 } });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      field: 'features.tenure_months',
      error: "'features.tenure_months' is -3, out of range; expected an integer from 0 to 120 (months as a customer)",
    });
  });

  test('an oversized body gets a 413', async () => {
    const { port } = await startServer();
    const res = await request(port, 'POST', '/predict', `{"pad":"${'x'.repeat(MAX_BODY_BYTES)}"}`);
    expect(res.status).toBe(413);
    expect(res.json.error).toBe(`request body exceeds ${MAX_BODY_BYTES} bytes; send at most 100 instances per request`);
  });
});

describe('GET /metrics', () => {
  test('exposes the contract metrics, counting /predict answers by code and nothing else', async () => {
    // GIVEN a server that answered two good predictions, one bad request and some probes
    const { port } = await startServer({ MODEL_VERSION: '2.0.1' });
    await request(port, 'POST', '/predict', { features: RISKY });
    await request(port, 'POST', '/predict', { instances: [LOYAL] });
    await request(port, 'POST', '/predict', { features: {} });
    await request(port, 'GET', '/health/ready');
    await request(port, 'GET', '/health/live');
    // WHEN the metrics are scraped and parsed
    const m = await metrics(port);
    const labels = { model: 'churn', version: '2.0.1' };
    // THEN
    expect(family(m, 'model_request_total').type).toBe('COUNTER');
    expect(sampleValue(m, 'model_request_total', { ...labels, code: '200' })).toBe(2);
    expect(sampleValue(m, 'model_request_total', { ...labels, code: '400' })).toBe(1);
    expect(family(m, 'model_request_total').metrics).toHaveLength(2);
    const hist = family(m, 'model_inference_seconds');
    expect(hist.type).toBe('HISTOGRAM');
    expect(Number(hist.metrics[0].buckets?.['+Inf'])).toBe(3);
    expect(Object.keys(hist.metrics[0].buckets ?? {})).toEqual(
      expect.arrayContaining(['0.005', '0.1', '0.3', '0.5', '1', '10', '+Inf']),
    );
    expect(family(m, 'model_build_info').type).toBe('GAUGE');
    expect(sampleValue(m, 'model_build_info', labels)).toBe(1);
    expect(sampleValue(m, 'model_load_seconds', labels)).toBeGreaterThan(0);
    expect(sampleValue(m, 'model_ready', labels)).toBe(1);
    expect(sampleValue(m, 'model_in_flight_requests', labels)).toBe(0);
  });

  test("the histogram's label set carries model and version", async () => {
    const { port } = await startServer({ MODEL_VERSION: '3.1.0' });
    await request(port, 'POST', '/predict', { features: RISKY });
    const res = await request(port, 'GET', '/metrics');
    // parse-prometheus-text-format folds labelled histogram series; check the raw series for the labels.
    expect(res.text).toMatch(/^model_inference_seconds_count\{model="churn",version="3\.1\.0"\} 1$/m);
    expect(res.text).toMatch(/^model_inference_seconds_bucket\{le="\+Inf",model="churn",version="3\.1\.0"\} 1$/m);
  });
});

describe('readiness during load', () => {
  test('not ready and /predict 503 while the model loads; ready once loaded', async () => {
    // GIVEN a server whose load delay the test controls
    const gate = new Gate();
    const { server, port } = await startServer({ MODEL_LOAD_DELAY_MS: '5000' }, { sleep: gate.sleep }, false);
    const loading = server.load();
    // THEN while loading
    expect(gate.waits).toEqual([5000]);
    expect((await request(port, 'GET', '/health/live')).status).toBe(200);
    const ready = await request(port, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.json).toMatchObject({ status: 'loading', reason: 'model is loading' });
    const predict = await request(port, 'POST', '/predict', { features: RISKY });
    expect(predict.status).toBe(503);
    expect(predict.headers['retry-after']).toBe('1');
    expect(sampleValue(await metrics(port), 'model_load_seconds', { model: 'churn' })).toBe(0);
    // WHEN the load finishes
    gate.releaseAll();
    await loading;
    // THEN
    expect((await request(port, 'GET', '/health/ready')).status).toBe(200);
    expect((await request(port, 'POST', '/predict', { features: RISKY })).status).toBe(200);
    const m = await metrics(port);
    expect(sampleValue(m, 'model_request_total', { code: '503' })).toBe(1);
    expect(sampleValue(m, 'model_load_seconds', { model: 'churn' })).toBeGreaterThan(0);
  });
});

describe('fault modes', () => {
  test('MODEL_FAULT_ERROR_RATIO answers that share of predictions with 500s, counted as code 500', async () => {
    const draws = [0.1, 0.9, 0.2, 0.95];
    const { port } = await startServer({ MODEL_FAULT_ERROR_RATIO: '0.25' }, { random: () => draws.shift() ?? 1 });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await request(port, 'POST', '/predict', { features: LOYAL })).status);
    expect(codes).toEqual([500, 200, 500, 200]);
    const m = await metrics(port);
    expect(sampleValue(m, 'model_request_total', { code: '500' })).toBe(2);
    expect(sampleValue(m, 'model_request_total', { code: '200' })).toBe(2);
  });

  test('the injected error names the fault', async () => {
    const { port } = await startServer({ MODEL_FAULT_ERROR_RATIO: '1' });
    const res = await request(port, 'POST', '/predict', { features: LOYAL });
    expect(res.status).toBe(500);
    expect(res.json.error).toBe('injected fault: MODEL_FAULT_ERROR_RATIO=1');
  });

  test('MODEL_FAULT_EXTRA_LATENCY_MS delays every prediction by that long', async () => {
    const gate = new Gate();
    const { port } = await startServer({ MODEL_FAULT_EXTRA_LATENCY_MS: '750' }, { sleep: gate.sleep });
    const pending = request(port, 'POST', '/predict', { features: LOYAL });
    await waitUntil(() => gate.pending === 1);
    expect(gate.waits).toEqual([750]);
    gate.releaseAll();
    expect((await pending).status).toBe(200);
  });

  test('MODEL_FAULT_NEVER_READY keeps readiness at 503 after load while predictions still work', async () => {
    const { port } = await startServer({ MODEL_FAULT_NEVER_READY: 'true' });
    const ready = await request(port, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.json.reason).toBe('fault MODEL_FAULT_NEVER_READY is on');
    expect((await request(port, 'POST', '/predict', { features: LOYAL })).status).toBe(200);
    expect(sampleValue(await metrics(port), 'model_ready', { model: 'churn' })).toBe(0);
  });
});

describe('drain', () => {
  test('stops accepting, reports not ready, finishes the in-flight request, then resolves true', async () => {
    // GIVEN a prediction held in flight by the latency fault
    const gate = new Gate();
    const { server, port } = await startServer({ MODEL_FAULT_EXTRA_LATENCY_MS: '1000' }, { sleep: gate.sleep });
    const inFlight = request(port, 'POST', '/predict', { features: RISKY });
    await waitUntil(() => gate.pending === 1);
    // WHEN draining starts
    const drained = server.drain();
    // THEN readiness is gone and new connections are refused
    expect(server.state).toBe('draining');
    const ready = (await server.registry.getSingleMetric('model_ready')?.get())?.values[0]?.value;
    expect(ready).toBe(0);
    await expect(request(port, 'GET', '/health/ready')).rejects.toThrow(/ECONNREFUSED/);
    // AND the in-flight request still completes, on a connection that is then closed
    gate.releaseAll();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.connection).toBe('close');
    await expect(drained).resolves.toBe(true);
    expect(server.state).toBe('stopped');
  });

  test('resolves false when in-flight requests outlast DRAIN_TIMEOUT_MS', async () => {
    const gate = new Gate();
    const { server, port } = await startServer({ MODEL_FAULT_EXTRA_LATENCY_MS: '1000', DRAIN_TIMEOUT_MS: '100' }, { sleep: gate.sleep });
    const inFlight = request(port, 'POST', '/predict', { features: RISKY });
    await waitUntil(() => gate.pending === 1);
    await expect(server.drain()).resolves.toBe(false);
    // the cut connection fails the client request
    await expect(inFlight).rejects.toThrow(/socket hang up|ECONNRESET/);
    gate.releaseAll();
  });

  test('a second drain() returns the same promise', async () => {
    const { server } = await startServer();
    const a = server.drain();
    expect(server.drain()).toBe(a);
    await a;
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
