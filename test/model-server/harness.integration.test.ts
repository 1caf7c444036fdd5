/**
 * The shared integration harness itself (test/support/registry.ts, podman.ts, tools.ts), against the real tools:
 * htpasswd auth, push notifications to a webhook, deletes, a private podman with its Docker-compatible API.
 */
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import Docker from 'dockerode';
import { buildTestImage } from '../../scripts/build-test-image';
import { startPodman, TestPodman } from '../support/podman';
import { httpStatus, startRegistry, TestRegistry } from '../support/registry';
import { requireTool, waitFor } from '../support/tools';

jest.setTimeout(180_000);

interface Received {
  readonly headers: http.IncomingHttpHeaders;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

let webhook: http.Server;
const received: Received[] = [];
let registry: TestRegistry;
let pod: TestPodman;

beforeAll(async () => {
  webhook = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(text) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const hookPort = (webhook.address() as AddressInfo).port;
  registry = await startRegistry({
    htpasswd: { username: 'ci', password: 's3cret-pass' },
    notifications: { url: `http://127.0.0.1:${hookPort}/webhooks/registry`, headers: { Authorization: 'Bearer hook-token' } },
  });
  pod = await startPodman({ insecureRegistries: [registry.host] });
});

afterAll(async () => {
  await pod?.stop();
  await registry?.stop();
  await new Promise((resolve) => webhook?.close(resolve));
});

test('requireTool fails naming scripts/install-test-tools.sh when a tool is missing', () => {
  expect(() => requireTool('modelpilot-no-such-tool', 'no-such-pkg')).toThrow(
    "required tool 'modelpilot-no-such-tool' (Debian package 'no-such-pkg') was not found on PATH; install the integration-test tools with `bash scripts/install-test-tools.sh`",
  );
  expect(requireTool('podman')).toMatch(/\/podman$/);
});

test('the registry listens on 127.0.0.1 and demands the htpasswd credentials', async () => {
  expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(await httpStatus(`${registry.url}/v2/`)).toBe(401);
  expect(await httpStatus(`${registry.url}/v2/`, { Authorization: 'Basic ' + Buffer.from('ci:wrong').toString('base64') })).toBe(401);
  expect(await httpStatus(`${registry.url}/v2/`, { Authorization: registry.authorization ?? '' })).toBe(200);
});

test('a push reaches the webhook as a distribution "push" event with the tag and the configured header; delete works', async () => {
  // WHEN an image is pushed with the credentials
  const image = await buildTestImage({ version: '2.0.0', repository: 'ml/churn', registry, podman: pod, creds: 'ci:s3cret-pass' });
  // THEN the webhook gets the manifest push event
  await waitFor(() => received.some((r) => r.body.events?.some((e: { action: string }) => e.action === 'push')), {
    what: 'a push notification',
    timeoutMs: 30_000,
  });
  const hit = received.find((r) => r.body.events?.some((e: { action: string }) => e.action === 'push'));
  expect(hit?.headers.authorization).toBe('Bearer hook-token');
  const event = hit?.body.events.find((e: { action: string }) => e.action === 'push');
  expect(event.target).toMatchObject({ repository: 'ml/churn', tag: '2.0.0', digest: image.digest });
  // layer blobs are filtered out by default: every event is about a manifest
  for (const r of received) {
    for (const e of r.body.events) expect(e.target.mediaType).not.toBe('application/octet-stream');
  }
  // AND deletes are enabled
  const del = await fetch(`${registry.url}/v2/ml/churn/manifests/${image.digest}`, {
    method: 'DELETE',
    headers: { Authorization: registry.authorization ?? '' },
  });
  expect(del.status).toBe(202);
});

test('podman is private (own storage under its temp dir) and serves the Docker-compatible API on its socket', async () => {
  const info = JSON.parse((await pod.podman(['info', '--format', 'json'])).stdout);
  expect(info.store.graphRoot.startsWith(pod.dir)).toBe(true);
  expect(fs.readFileSync(pod.env.CONTAINERS_CONF ?? '', 'utf8')).toMatch(/default_ulimits = \[\][\s\S]*runtime = "runc"/);
  const docker = new Docker({ socketPath: pod.socketPath });
  const version = await docker.version();
  expect(version.Components?.some((c) => /podman/i.test(c.Name))).toBe(true);
  const images = await docker.listImages();
  expect(images.some((i) => (i.RepoTags ?? []).includes(`${registry.host}/ml/churn:2.0.0`))).toBe(true);
});

test('stop() removes the temp dirs of both', async () => {
  const r = await startRegistry();
  const p = await startPodman();
  const image = await buildTestImage({ version: '0.0.1', podman: p });
  // a container that never becomes ready keeps running until stop() removes it
  await p.podman(['run', '--detach', '--network', 'host', '--env', 'PORT=0', '--env', 'MODEL_FAULT_NEVER_READY=true', image.ref]);
  expect((await p.podman(['ps', '--quiet'])).stdout.trim()).not.toBe('');
  await p.stop();
  await r.stop();
  expect(fs.existsSync(p.dir)).toBe(false);
  expect(fs.existsSync(r.dir)).toBe(false);
  expect(fs.readFileSync('/proc/mounts', 'utf8')).not.toContain(p.dir);
});
