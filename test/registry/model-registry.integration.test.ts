/**
 * The in-cluster registry's generated config.yml runs on the real CNCF distribution registry (Debian's
 * `docker-registry`): htpasswd auth is enforced, and a push notifies the configured webhook while pulls do not.
 * Only host paths and the listen address are rewritten (the pod's /var/lib/registry, /auth and :5000 do not exist
 * here); every other line of the config is used as synthesized.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as bcrypt from 'bcryptjs';
import { Testing } from 'cdk8s';
import * as YAML from 'yaml';
import { ModelRegistry } from '../../lib';
import { RENDER_CONFIG_SCRIPT } from '../../lib/registry/model-registry';
import { freePort, requireTool, stopChild, tailFile, waitFor } from '../support/tools';

interface RegistryEvent { action: string; target: { repository: string; tag?: string; mediaType: string } }
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- synthesized manifests are untyped JSON
type Obj = Record<string, any>;

const TOKEN = 'k8s-secret-token_0123456789abcdef+/=';

const USER = 'ci';
const PASSWORD = 'integration-secret';
const AUTH = 'Basic ' + Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

describe('ModelRegistry config on the real distribution registry', () => {
  let dir: string;
  let registry: ChildProcess | undefined;
  let webhook: http.Server;
  let base: string;
  const events: RegistryEvent[] = [];
  const authHeaders: Array<string | undefined> = [];
  let initContainer: Obj;
  let template: string;

  beforeAll(async () => {
    const binary = fs.existsSync('/usr/bin/docker-registry') ? requireTool('/usr/bin/docker-registry', 'docker-registry') : requireTool('docker-registry');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-registry-it-'));

    webhook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        if (req.url === '/webhooks/registry') {
          authHeaders.push(req.headers.authorization);
          events.push(...(JSON.parse(body).events as RegistryEvent[]));
        }
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const hookPort = (webhook.address() as { port: number }).port;

    // GIVEN the config the construct synthesizes
    const chart = Testing.chart();
    new ModelRegistry(chart, 'Registry', {
      htpasswdSecret: 'registry-htpasswd',
      notifications: { url: `http://127.0.0.1:${hookPort}/webhooks/registry`, bearerToken: { name: 'updater-webhook', key: 'token' } },
    });
    const objects = Testing.synth(chart) as Obj[];
    template = objects.find((o) => o.kind === 'ConfigMap')!.data['config.yml'];
    initContainer = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.initContainers[0];

    // The init container's script, run by the host's sh with the token from the "Secret", renders the config.
    fs.mkdirSync(path.join(dir, 'config-template'));
    fs.mkdirSync(path.join(dir, 'etc'));
    fs.writeFileSync(path.join(dir, 'config-template', 'config.yml'), template);
    const script = (initContainer.command[2] as string).replace('/config-template/', `${dir}/config-template/`).replace('/etc/docker/registry/', `${dir}/etc/`);
    const render = spawnSync(requireTool('sh', 'dash'), ['-c', script], { env: { PATH: process.env.PATH, MODELPILOT_NOTIFY_TOKEN: TOKEN }, encoding: 'utf8' });
    if (render.status !== 0) throw new Error(`the render script failed (${render.status}): ${render.stderr}`);
    const config = YAML.parse(fs.readFileSync(path.join(dir, 'etc', 'config.yml'), 'utf8'));

    // Host paths and port instead of the pod's.
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    config.storage.filesystem.rootdirectory = path.join(dir, 'data');
    config.http.addr = `127.0.0.1:${port}`;
    config.auth.htpasswd.path = path.join(dir, 'htpasswd');
    fs.writeFileSync(config.auth.htpasswd.path, `${USER}:${bcrypt.hashSync(PASSWORD, 10)}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'config.yml'), YAML.stringify(config));

    const log = fs.openSync(path.join(dir, 'registry.log'), 'a');
    registry = spawn(binary, ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', log, log], env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' } });
    fs.closeSync(log);
    await waitFor(async () => (await fetch(`${base}/v2/`)).status === 401, {
      what: 'the registry to answer /v2/', timeoutMs: 60_000, diagnostics: () => tailFile(path.join(dir, 'registry.log')),
    });
  }, 120_000);

  afterAll(async () => {
    if (registry) await stopChild(registry);
    await new Promise<void>((resolve) => webhook.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  async function pushBlob(repo: string, content: Buffer): Promise<string> {
    const digest = 'sha256:' + crypto.createHash('sha256').update(content).digest('hex');
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { Authorization: AUTH } });
    expect(start.status).toBe(202);
    const location = new URL(start.headers.get('location') as string, base);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', headers: { 'Authorization': AUTH, 'Content-Type': 'application/octet-stream' }, body: content });
    expect(put.status).toBe(201);
    return digest;
  }

  async function pushImage(repo: string, tag: string): Promise<void> {
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { tag } }, rootfs: { type: 'layers', diff_ids: [] } }));
    const layer = Buffer.from(`model weights ${tag}`);
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await pushBlob(repo, cfg), size: cfg.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await pushBlob(repo, layer), size: layer.length }],
    };
    const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
      method: 'PUT', headers: { 'Authorization': AUTH, 'Content-Type': manifest.mediaType }, body: JSON.stringify(manifest),
    });
    expect(res.status).toBe(201);
  }

  test('the token is not in the ConfigMap, only its placeholder', () => {
    expect(template).not.toContain(TOKEN);
    expect(template).toContain('Bearer __MODELPILOT_NOTIFY_TOKEN__');
  });

  test('the init container takes the token from the Secret and uses the script it was synthesized with', () => {
    expect(initContainer.command).toEqual(['/bin/sh', '-c', RENDER_CONFIG_SCRIPT]);
    expect(initContainer.env).toEqual([{ name: 'MODELPILOT_NOTIFY_TOKEN', valueFrom: { secretKeyRef: { name: 'updater-webhook', key: 'token' } } }]);
  });

  test('the render script refuses a token that could break the config', () => {
    for (const bad of ['', 'a#b', 'a&b', 'a b', 'a\\b']) {
      const r = spawnSync(requireTool('sh', 'dash'), ['-c', RENDER_CONFIG_SCRIPT], { env: { PATH: process.env.PATH, MODELPILOT_NOTIFY_TOKEN: bad }, encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toBe('modelpilot: the notification token is empty or has characters outside A-Z a-z 0-9 . _ ~ + / = -\n');
    }
  });

  test('refuses requests without the htpasswd credentials', async () => {
    expect((await fetch(`${base}/v2/`)).status).toBe(401);
    expect((await fetch(`${base}/v2/`, { headers: { Authorization: AUTH } })).status).toBe(200);
  }, 30_000);

  test('a push notifies the webhook; a pull does not', async () => {
    // WHEN a model version is pushed
    await pushImage('models/recsys', '1.0.0');
    // THEN the webhook hears of it
    await waitFor(() => events.some((e) => e.action === 'push' && e.target.tag === '1.0.0'), { what: 'the push event of 1.0.0', timeoutMs: 30_000 });
    const push = events.find((e) => e.target.tag === '1.0.0')!;
    expect(authHeaders[0]).toBe(`Bearer ${TOKEN}`);
    expect(push.target.repository).toBe('models/recsys');
    expect(push.target.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');

    // WHEN it is pulled, and then another version pushed (events reach the endpoint in order)
    const pull = await fetch(`${base}/v2/models/recsys/manifests/1.0.0`, {
      headers: { Authorization: AUTH, Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(pull.status).toBe(200);
    await pushImage('models/recsys', '1.1.0');
    await waitFor(() => events.some((e) => e.action === 'push' && e.target.tag === '1.1.0'), { what: 'the push event of 1.1.0', timeoutMs: 30_000 });
    // THEN no pull event was sent, and layer blobs were filtered out
    expect(events.filter((e) => e.action === 'pull')).toEqual([]);
    expect(events.filter((e) => e.target.mediaType === 'application/octet-stream')).toEqual([]);
  }, 120_000);
});
