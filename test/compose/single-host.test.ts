/**
 * The single-host bundle from a SelfHealingModelStack (lib/compose/single-host.ts) and `synth --target compose`.
 * The bundle is run for real by test/compose/compose-bundle.integration.test.ts; here: what each file says and
 * that it says the same as the Kubernetes output (rule groups, routes, the agent config through the agent's own schema).
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import { parse } from 'yaml';
import { run } from '../../bin/commands/synth';
import buildLlm from '../../examples/llm-gpu/app';
import build from '../../examples/recommendation-model/app';
import { ModelRegistry, SelfHealingModelStack, SINGLE_HOST_IMAGES, singleHostBundle } from '../../lib';
import { haproxyConfig } from '../../lib/compose/haproxy';
import { parseConfig } from '../../lib/core/contract/agent-config';
import { capture } from '../support/cli';

function demo(): SelfHealingModelStack {
  const app = new App();
  build(app);
  return app.node.children.find((c) => SelfHealingModelStack.isStack(c)) as SelfHealingModelStack;
}

describe('singleHostBundle', () => {
  const stack = demo();
  const files = singleHostBundle(stack);

  test('writes the whole bundle for the demo stack', () => {
    expect(Object.keys(files).sort()).toEqual(['SECRETS.md', 'agent.yaml', 'alertmanager.yml', 'compose.yaml', 'haproxy.cfg', 'prometheus.yml', 'registry.yml', 'rules.yml']);
  });

  test('compose.yaml: the model with its blue/green labels, HAProxy, Prometheus, Alertmanager, the agent and the in-cluster registry, all on host networking', () => {
    const c = parse(files['compose.yaml']) as { services: Record<string, Record<string, any>>; volumes: Record<string, unknown> }; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(Object.keys(c.services).sort()).toEqual(['alertmanager', 'modelpilot', 'prometheus', 'proxy', 'recsys', 'registry']);
    for (const s of Object.values(c.services)) expect(s.network_mode).toBe('host');
    expect(c.services.recsys).toMatchObject({
      image: 'localhost:30500/models/recsys:1.4.0', container_name: 'recsys', restart: 'unless-stopped',
      environment: { PORT: '9001', HOST: '127.0.0.1', MODEL_NAME: 'recsys' },
      labels: {
        'modelpilot.enable': 'true', 'modelpilot.scope': 'recommendation-model', 'modelpilot.policy': 'semver:minor',
        'modelpilot.ready.url': 'http://127.0.0.1:9001/health/ready', 'modelpilot.proxy.backend': 'recsys', 'modelpilot.proxy.ports': '9001,9002',
      },
    });
    expect(c.services.recsys.environment.MODEL_VERSION).toBeUndefined(); // the image's own, replaced with the image
    expect(c.services.proxy.image).toBe(SINGLE_HOST_IMAGES.proxy);
    expect(c.services.modelpilot.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(c.services.registry.volumes).toContain('./secrets/registry/htpasswd:/auth/htpasswd:ro');
    expect(Object.keys(c.volumes).sort()).toEqual(['alertmanager-data', 'modelpilot-state', 'prometheus-data', 'registry-data']);
  });

  test('agent.yaml passes the agent\'s own schema: the Docker target behind HAProxy, Prometheus and webhooks on the host', () => {
    const config = parseConfig(parse(files['agent.yaml']), 'agent.yaml');
    expect(config.targets.kubernetes).toBeUndefined();
    expect(config.targets.docker).toMatchObject({ socket: '/var/run/docker.sock', scope: 'recommendation-model', proxy: { haproxy: '127.0.0.1:9999' } });
    expect(config.health.prometheus?.url).toBe('http://127.0.0.1:9090');
    expect(config.webhooks.listen).toBe('127.0.0.1:8081');
    expect(config.registries.insecure).toEqual(['localhost:30500']);
    expect(config.registries.mirrors).toEqual({});
    expect(config.images.map((i) => i.repository)).toEqual(['localhost:30500/models/recsys']);
  });

  test('rules.yml holds the PrometheusRule\'s group unchanged; alertmanager.yml the same routes, the updater route pointed at the agent', () => {
    expect(parse(files['rules.yml'])).toEqual({ groups: [stack.monitoring!.alerts!.group] });
    const am = parse(files['alertmanager.yml']) as { route: unknown; receivers: Array<{ name: string; webhook_configs?: Array<{ url: string }> }> };
    const k8s = parse(stack.alerting!.toAlertmanagerYaml()) as typeof am;
    expect(am.route).toEqual(k8s.route);
    expect(am.receivers.map((r) => r.name)).toEqual(k8s.receivers.map((r) => r.name));
    expect(am.receivers.flatMap((r) => r.webhook_configs ?? []).map((w) => w.url)).toEqual(['http://127.0.0.1:8081/webhooks/alertmanager']);
  });

  test('prometheus.yml asks the agent which containers run (HTTP service discovery) and labels them as the rules expect', () => {
    const p = parse(files['prometheus.yml']) as { scrape_configs: Array<Record<string, any>>; rule_files: string[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
    const job = p.scrape_configs[0];
    expect(job.http_sd_configs).toEqual([{ url: 'http://127.0.0.1:8081/sd/targets', refresh_interval: '2s' }]);
    expect(job.relabel_configs).toEqual([{ source_labels: ['model'], regex: 'recsys', action: 'keep' }, { target_label: 'namespace', replacement: 'ml' }]);
    // the labels the updater alerts select this updater by
    expect(p.scrape_configs[1]).toEqual({ job_name: 'ml/modelpilot-updater', static_configs: [{ targets: ['127.0.0.1:8081'], labels: { namespace: 'ml' } }] });
    expect(p.rule_files).toEqual(['/etc/prometheus/rules.yml']);
  });

  test('haproxy.cfg: the runtime API, both ports health-checked, retries of failed requests on the other server', () => {
    const cfg = files['haproxy.cfg'];
    expect(cfg).toContain('stats socket ipv4@127.0.0.1:9999 level admin');
    // the demo's Service port is 80; the proxy image's non-root user cannot bind it on the host network
    expect(cfg).toContain('bind 0.0.0.0:8080\n');
    expect(cfg).toContain('server blue 127.0.0.1:9001');
    expect(cfg).toContain('server green 127.0.0.1:9002');
    expect(cfg).toContain('retry-on conn-failure empty-response response-timeout 500 502 503 504');
    expect(cfg).toContain('option httpchk GET /health/ready');
  });

  test('the rotation the agent decides survives an HAProxy restart: one server-state file, written by the agent, loaded by the proxy', () => {
    const config = parseConfig(parse(files['agent.yaml']), 'agent.yaml');
    expect(config.targets.docker?.proxy?.stateFile).toBe('/var/lib/modelpilot/haproxy-server-state');
    expect(files['haproxy.cfg']).toContain('  server-state-file /var/lib/modelpilot/haproxy-server-state\n');
    expect(files['haproxy.cfg']).toContain('  load-server-state-from-file global\n');
    const compose = parse(files['compose.yaml']);
    expect(compose.services.proxy.volumes).toContain('modelpilot-state:/var/lib/modelpilot:ro');
    expect(compose.services.modelpilot.volumes).toContain('modelpilot-state:/var/lib/modelpilot');
    // without a state file, no state lines
    expect(haproxyConfig({ backend: 'm', listen: '127.0.0.1:80', ports: [1, 2] })).not.toMatch(/server-state/);
  });

  test('SECRETS.md lists every secret file the bundle mounts', () => {
    expect(files['SECRETS.md']).toContain('`secrets/modelpilot/webhook/token`');
    expect(files['SECRETS.md']).toContain('`secrets/alertmanager/slack-webhook/url`');
  });

  test('bad single-host settings name the field, the value and the fix', () => {
    expect(() => singleHostBundle(stack, { modelPorts: [9001, 9001] })).toThrow("'singleHost.modelPorts' is [9001, 9001]; give two different ports, e.g. [9001, 9002]");
    expect(() => singleHostBundle(stack, { agentPort: 0 })).toThrow("'singleHost.agentPort' is 0; give a port between 1 and 65535");
    expect(() => haproxyConfig({ backend: 'a b', listen: ':80', ports: [1, 2] })).toThrow(/haproxy backend 'a b' is not a valid HAProxy name/);
  });

  // #27: a bundle that cannot start is refused at synth (the real haproxy -c and docker-compose config agree:
  // test/compose/bundle-check.integration.test.ts)
  test.each([
    ['listen with a scheme', { listen: 'http://0.0.0.0:8080' },
      "'singleHost.listen' value 'http://0.0.0.0:8080' is not an address HAProxy can bind; write it as host:port without scheme, e.g. '0.0.0.0:8080'"],
    ['listen without a port', { listen: '0.0.0.0' }, "'singleHost.listen' value '0.0.0.0' is not an address HAProxy can bind"],
    ['listen on port 0', { listen: '0.0.0.0:0' }, "'singleHost.listen' value '0.0.0.0:0' has port 0; give a port between 1 and 65535"],
    ['listen on a port above 65535', { listen: ':99999' }, "'singleHost.listen' value ':99999' has port 99999; give a port between 1 and 65535"],
    ['listen on no IPv4 address', { listen: '300.1.1.1:80' }, "'singleHost.listen' value '300.1.1.1:80' has '300.1.1.1', which is not an IPv4 address"],
    ['the runtime API on every address', { proxyAdmin: '0.0.0.0:9999' },
      "'singleHost.proxyAdmin' value '0.0.0.0:9999' listens on every address: HAProxy's runtime API lets anyone who reaches it take the model out of service"],
    ['a relative Docker socket', { dockerSocket: 'docker.sock' },
      "'singleHost.dockerSocket' value 'docker.sock' is not an absolute path (compose reads a relative one as a named volume, and ':' or a space splits the mount)"],
    ['two services on one port', { agentPort: 9090 },
      "'singleHost.agentPort' and 'singleHost.prometheusPort' both use port 9090 of the host; every service of the bundle runs on the host network, so the second could not start"],
    ['the proxy on a model slot', { listen: '0.0.0.0:9001' }, "'singleHost.modelPorts[0]' and 'singleHost.listen' both use port 9001 of the host"],
    ['a service on the registry port', { alertmanagerPort: 30500 },
      "'singleHost.registry port (from its host)' and 'singleHost.alertmanagerPort' both use port 30500 of the host"],
  ])('refuses %s', (_n, options, message) => {
    expect(() => singleHostBundle(stack, options)).toThrow(message);
  });

  test.each([
    ['a listen port below 1024', { listen: '0.0.0.0:80' },
      "'singleHost.listen' value '0.0.0.0:80' has port 80, below 1024: the proxy image runs as a non-root user (haproxy:2.6: uid 99) on the host network, "
      + "where it cannot bind it, so the proxy would never start; give a port of 1024 or above, e.g. '0.0.0.0:8080' (and forward 80 to it on the host), "
      + "or set 'singleHost.proxyUser' to '0' to run the proxy as root"],
    ['a socket group by name', { dockerSocketGroup: 'docker' as unknown as number },
      "'singleHost.dockerSocketGroup' value 'docker' is not a group id; give the number that owns the socket on the host (stat -c %g /var/run/docker.sock), e.g. 998"],
    ['a negative socket group', { dockerSocketGroup: -1 }, "'singleHost.dockerSocketGroup' value '-1' is not a group id"],
    ['a proxy user with a space', { proxyUser: 'ha proxy' }, "'singleHost.proxyUser' value 'ha proxy' is not a user compose accepts"],
  ])('refuses %s (#28)', (_n, options, message) => {
    expect(() => singleHostBundle(stack, options)).toThrow(message);
  });

  test('port 80 as root when asked: proxyUser 0 is written to the proxy service', () => {
    const c = parse(singleHostBundle(stack, { listen: '0.0.0.0:80', proxyUser: '0' })['compose.yaml']);
    expect(c.services.proxy.user).toBe('0');
    expect(parse(files['compose.yaml']).services.proxy.user).toBeUndefined(); // the image's user by default
  });

  test('the agent runs as its image\'s uid with the socket\'s group: from MODELPILOT_DOCKER_GID (compose refuses without it) or the stack', () => {
    const c = parse(files['compose.yaml']);
    expect(c.services.modelpilot.user).toBeUndefined();
    expect(c.services.modelpilot.group_add).toEqual(['${MODELPILOT_DOCKER_GID:?set MODELPILOT_DOCKER_GID to the group id of the Docker socket on this host: '
      + 'export MODELPILOT_DOCKER_GID=$$(stat -c %g /var/run/docker.sock) or put it in .env next to compose.yaml}']);
    expect(files['compose.yaml']).toContain('# Before the first start: export MODELPILOT_DOCKER_GID=$(stat -c %g /var/run/docker.sock)');
    expect(files['SECRETS.md']).toContain('echo MODELPILOT_DOCKER_GID=$(stat -c %g /var/run/docker.sock) >> .env');
    const fixed = singleHostBundle(stack, { dockerSocketGroup: 998 });
    expect(parse(fixed['compose.yaml']).services.modelpilot.group_add).toEqual(['998']);
    expect(fixed['SECRETS.md']).not.toContain('MODELPILOT_DOCKER_GID');
    // the agent's container is created first, so the state volume starts as its image's directory (owned by 10001)
    expect(c.services.proxy.depends_on).toEqual(['modelpilot']);
    expect(c.services.modelpilot.depends_on).not.toContain('proxy');
  });

  test('the GPU example keeps what its pod declares: GPU, CPU and memory, the cache volume, the Secret env, non-root and read-only, Recreate', () => {
    const app = new App();
    buildLlm(app);
    const llm = app.node.children.find((c) => SelfHealingModelStack.isStack(c)) as SelfHealingModelStack;
    const bundle = singleHostBundle(llm);
    const c = parse(bundle['compose.yaml']) as { services: Record<string, Record<string, any>>; volumes: Record<string, unknown> }; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.services.llm).toMatchObject({
      deploy: { resources: { reservations: { devices: [{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }] } } },
      cpus: 8, mem_limit: '48g', mem_reservation: '32g', volumes: ['llm-model-cache:/models'],
      env_file: ['./secrets/llm/env'], environment: { HF_HOME: '/models' },
      user: '65532:65532', read_only: true, tmpfs: ['/tmp:size=256m'], cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'],
      stop_grace_period: '90s',
    });
    expect(c.services.llm.environment.HF_TOKEN).toBeUndefined(); // never in compose.yaml
    expect(c.volumes).toHaveProperty('llm-model-cache');
    // Recreate: one copy at a time, so no blue/green labels (the agent stops the old one, then starts the new one)
    expect(c.services.llm.labels['modelpilot.proxy.backend']).toBeUndefined();
    expect(bundle['compose.yaml']).toContain('# strategy Recreate: the agent stops the running version before it starts the new one');
    expect(bundle['SECRETS.md']).toContain("- `secrets/llm/env` (an env file, KEY=value lines, read by compose into the model container: HF_TOKEN from Secret 'hf-token' key 'token')");
    expect(bundle['SECRETS.md']).toContain('`docker login registry.example.com`');
  });

  test('a stack without monitoring, alerting or updater gets only the model, the proxy and Prometheus', () => {
    const app = new App();
    const s = new SelfHealingModelStack(app, 'bare', {
      registry: ModelRegistry.external({ host: 'registry.example.com' }),
      model: { name: 'bare', image: 'registry.example.com/m/bare:1.0.0' },
      singleHost: { listen: '127.0.0.1:8080', modelPorts: [7001, 7002] },
    });
    const f = singleHostBundle(s, s.singleHost);
    expect(Object.keys(f).sort()).toEqual(['SECRETS.md', 'compose.yaml', 'haproxy.cfg', 'prometheus.yml']);
    expect(Object.keys((parse(f['compose.yaml']) as { services: object }).services).sort()).toEqual(['bare', 'prometheus', 'proxy']);
    expect(f['haproxy.cfg']).toContain('server green 127.0.0.1:7002');
    const job = (parse(f['prometheus.yml']) as { scrape_configs: Array<{ static_configs?: unknown }> }).scrape_configs[0];
    expect(job.static_configs).toEqual([{ targets: ['127.0.0.1:7001', '127.0.0.1:7002'], labels: { model: 'bare' } }]);
  });
});

describe('modelpilot synth --target compose', () => {
  let dir: string;
  const tmpRoot = path.resolve(__dirname, '../../.tmp');
  beforeEach(() => {
    fs.mkdirSync(tmpRoot, { recursive: true });
    dir = fs.mkdtempSync(path.join(tmpRoot, 'compose-test-'));
  });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  test('writes <out>/<stack>/ with the bundle; --image replaces a supporting service\'s image', async () => {
    const { code, out } = await capture(() => run(['--target', 'compose', '--out', dir, '--image', 'proxy=registry.internal/haproxy:2.6.12']));
    expect(code).toBe(0);
    expect(out).toContain('wrote 1 single-host bundle(s)');
    const compose = parse(fs.readFileSync(path.join(dir, 'recommendation-model', 'compose.yaml'), 'utf8')) as { services: Record<string, { image: string }> };
    expect(compose.services.proxy.image).toBe('registry.internal/haproxy:2.6.12');
  });

  test('an app with a plain cdk8s Chart beside a stack: the stack gets its bundle, the Chart is named as Kubernetes only (#27)', async () => {
    const appFile = path.join(dir, 'app.ts');
    fs.writeFileSync(appFile, `import { ApiObject, App, Chart } from 'cdk8s';
import build from '${path.resolve(__dirname, '../../examples/recommendation-model/app').replace(/\\/g, '/')}';
export default function (app: App): void {
  build(app);
  const extra = new Chart(app, 'extras');
  new ApiObject(extra, 'cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'extra' } });
}
`);
    const { code, out, err } = await capture(() => run([appFile, '--target', 'compose', '--out', path.join(dir, 'out')]));
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('not for one host (Kubernetes only): extras');
    expect(fs.existsSync(path.join(dir, 'out', 'recommendation-model', 'compose.yaml'))).toBe(true);
    expect(SelfHealingModelStack.isStack(new Chart(new App(), 'plain'))).toBe(false);
  });

  test('a bad --target or --image is a usage error naming the fix', async () => {
    const bad = await capture(() => run(['--target', 'swarm', '--out', dir]));
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("'--target' is 'swarm'; give 'kubernetes' (the default) or 'compose' (one Docker host)");
    const img = await capture(() => run(['--target', 'compose', '--image', 'nginx=nginx:1', '--out', dir]));
    expect(img.code).toBe(2);
    expect(img.err).toContain("'--image nginx=nginx:1' is not <service>=<ref> with a service of proxy, prometheus, alertmanager, registry, modelpilot");
    const k8s = await capture(() => run(['--image', 'proxy=x:1', '--out', dir]));
    expect(k8s.err).toContain("'--image' applies to '--target compose' only");
  });
});
