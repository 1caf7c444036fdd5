/**
 * Integration: build the model-server image without a Docker engine (scripts/build-test-image.ts), push it to
 * Debian's distribution registry on 127.0.0.1, pull and run it under podman (runc, host networking) and exercise
 * every endpoint on 127.0.0.1; then stop it and check the graceful drain.
 */
import { spawnSync } from 'child_process';
import { buildTestImage, TestImage } from '../../scripts/build-test-image';
import { startPodman, TestPodman } from '../support/podman';
import { startRegistry, TestRegistry } from '../support/registry';
import { freePort, requireTool, waitFor } from '../support/tools';
import { family, parseMetrics, request, RISKY, sampleValue } from './helpers';

jest.setTimeout(180_000);

let registry: TestRegistry;
let pod: TestPodman;

beforeAll(async () => {
  registry = await startRegistry();
  pod = await startPodman({ insecureRegistries: [registry.host] });
});

afterAll(async () => {
  await pod?.stop();
  await registry?.stop();
});

async function runImage(ref: string, env: Record<string, string> = {}): Promise<{ id: string; port: number }> {
  const port = await freePort();
  const envArgs = Object.entries({ PORT: String(port), ...env }).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
  // Locked down the way ModelDeployment runs it: read-only root fs, no capabilities, no privilege escalation.
  const hardening = ['--read-only', '--cap-drop', 'all', '--security-opt', 'no-new-privileges'];
  const { stdout } = await pod.podman(['run', '--detach', '--network', 'host', ...hardening, ...envArgs, ref]);
  const id = stdout.trim();
  await waitFor(async () => (await request(port, 'GET', '/health/ready')).status === 200, {
    what: `${ref} to become ready on 127.0.0.1:${port}`,
    timeoutMs: 60_000,
    intervalMs: 200,
    diagnostics: () => `container ${id}`,
  });
  return { id, port };
}

describe('good 1.0.0', () => {
  let image: TestImage;

  beforeAll(async () => {
    // removeLocal: the run below must pull from the registry, proving the push.
    image = await buildTestImage({ version: '1.0.0', registry, podman: pod, removeLocal: true });
  });

  test('is pushed under its semver tag, and the registry serves the digest the push reported', async () => {
    expect(image.ref).toBe(`${registry.host}/modelpilot/model-server:1.0.0`);
    const tags = (await fetch(`${registry.url}/v2/modelpilot/model-server/tags/list`).then((r) => r.json())) as { tags: string[] };
    expect(tags.tags).toContain('1.0.0');
    const head = await fetch(`${registry.url}/v2/modelpilot/model-server/manifests/1.0.0`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('docker-content-digest')).toBe(image.digest);
    const local = await pod.podman(['image', 'exists', image.ref]).then(
      () => true,
      () => false,
    );
    expect(local).toBe(false);
  });

  test('runs under podman with host networking and answers every endpoint on 127.0.0.1; SIGTERM drains and exits 0', async () => {
    // GIVEN the image pulled from the registry and started with a load delay
    const { id, port } = await runImage(image.ref, { MODEL_LOAD_DELAY_MS: '500' });
    // THEN the image carries its version label, a non-root user and the baked env
    const inspect = JSON.parse((await pod.podman(['image', 'inspect', image.ref])).stdout)[0];
    expect(inspect.Config.Labels['org.opencontainers.image.version']).toBe('1.0.0');
    expect(inspect.Config.User).toBe('65532:65532');
    expect(inspect.Config.Env).toEqual(expect.arrayContaining(['MODEL_NAME=churn', 'MODEL_VERSION=1.0.0', 'PORT=8080']));
    // AND every endpoint answers
    expect((await request(port, 'GET', '/health/live')).json).toEqual({ status: 'live', model: 'churn', version: '1.0.0' });
    expect((await request(port, 'GET', '/health/ready')).json).toEqual({ status: 'ready', model: 'churn', version: '1.0.0' });
    const ok = await request(port, 'POST', '/predict', { features: RISKY });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ model: 'churn', version: '1.0.0', prediction: { label: 'churns' } });
    const bad = await request(port, 'POST', '/predict', { features: { ...RISKY, month_to_month: 'yes' } });
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe('features.month_to_month');
    expect((await request(port, 'GET', '/nope')).status).toBe(404);
    const exposition = (await request(port, 'GET', '/metrics')).text;
    const metrics = parseMetrics(exposition);
    const labels = { model: 'churn', version: '1.0.0' };
    // promtool's metric lint has nothing to say about the model_* metrics (prom-client's nodejs_* defaults aside)
    const lint = spawnSync(requireTool('promtool', 'prometheus'), ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
    expect(lint.error).toBeUndefined();
    expect(`${lint.stdout}${lint.stderr}`.split('\n').filter((l) => l.startsWith('model_'))).toEqual([]);
    expect(sampleValue(metrics, 'model_build_info', labels)).toBe(1);
    expect(sampleValue(metrics, 'model_request_total', { ...labels, code: '200' })).toBe(1);
    expect(sampleValue(metrics, 'model_request_total', { ...labels, code: '400' })).toBe(1);
    expect(sampleValue(metrics, 'model_load_seconds', labels)).toBeGreaterThanOrEqual(0.5);
    expect(Number(family(metrics, 'model_inference_seconds').metrics[0].buckets?.['+Inf'])).toBe(2);
    // WHEN podman stops it (SIGTERM to node as PID 1)
    await pod.podman(['stop', '--time', '30', id]);
    // THEN it drained and exited 0
    const state = JSON.parse((await pod.podman(['inspect', id])).stdout)[0].State;
    expect(state.ExitCode).toBe(0);
    const logs = (await pod.podman(['logs', id])).stdout;
    expect(logs).toContain('"msg":"drained"');
  });
});

test('a bad 1.2.0 (MODEL_FAULT_ERROR_RATIO=1 baked in) is ready but answers predictions with 500s', async () => {
  const image = await buildTestImage({ version: '1.2.0', registry, podman: pod, env: { MODEL_FAULT_ERROR_RATIO: '1' } });
  const { id, port } = await runImage(image.ref);
  const res = await request(port, 'POST', '/predict', { features: RISKY });
  expect(res.status).toBe(500);
  expect(res.json.error).toBe('injected fault: MODEL_FAULT_ERROR_RATIO=1');
  const metrics = parseMetrics((await request(port, 'GET', '/metrics')).text);
  expect(sampleValue(metrics, 'model_request_total', { version: '1.2.0', code: '500' })).toBe(1);
  await pod.podman(['stop', '--time', '30', id]);
});

test('versions share the cached base layer: only the app layer differs', async () => {
  const a = await buildTestImage({ version: '1.1.0', registry, podman: pod });
  const b = await buildTestImage({ version: '1.1.1', registry, podman: pod });
  expect(a.baseRef).toBe(b.baseRef);
  const layers = async (ref: string): Promise<string[]> => JSON.parse((await pod.podman(['image', 'inspect', ref])).stdout)[0].RootFS.Layers;
  const [la, lb] = [await layers(a.ref), await layers(b.ref)];
  expect(la).toHaveLength(2);
  expect(la[0]).toBe(lb[0]);
});
