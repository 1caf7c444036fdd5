/**
 * The single-host bundle of a {@link SelfHealingModelStack}: the same typed declaration rendered for one Docker
 * (or Podman) host instead of Kubernetes — `npx modelpilot synth app.ts --target compose`.
 *
 * | file                | from the stack                                                                    |
 * |---------------------|-----------------------------------------------------------------------------------|
 * | `compose.yaml`      | model server (blue/green labels), HAProxy, Prometheus, Alertmanager, the agent, the registry when in-cluster |
 * | `haproxy.cfg`       | the zero-downtime switch ({@link haproxyConfig})                                   |
 * | `prometheus.yml`    | the model's running containers (HTTP service discovery from the agent) + the agent, the rule file, Alertmanager |
 * | `rules.yml`         | the PrometheusRule's rule groups, unchanged                                        |
 * | `alertmanager.yml`  | the same routes and receivers; the updater route points at the agent on the host   |
 * | `agent.yaml`        | the updater's config with the Docker target (blue/green through HAProxy)            |
 * | `registry.yml`      | the in-cluster registry's config, listening on the host (only with `ModelRegistry.inCluster`) |
 * | `SECRETS.md`        | the secret files to create next to compose.yaml before `compose up`                |
 *
 * Every service uses host networking: the proxy is the only listener meant for users (`listen`); Prometheus,
 * Alertmanager, the agent and the model's two ports bind 127.0.0.1.
 */
import { stringify } from 'yaml';
import { DEFAULT_UPDATER_IMAGE, DOCKER_LABELS, MODEL_SERVER_ENV } from '../core/contract/names';
import { AGENT_PATHS, PROXY_STATE_FILE } from '../core/contract/paths';
import { toPromDuration } from '../core/duration';
import type { SelfHealingModelStack } from '../stack';
import { haproxyConfig } from './haproxy';
import type { SingleHostOptions, SingleHostService } from './options';

export type { SingleHostOptions, SingleHostService } from './options';

/** Default images: the upstream images of the versions these files were tested with. */
export const SINGLE_HOST_IMAGES: Readonly<Record<SingleHostService, string>> = {
  proxy: 'docker.io/library/haproxy:2.6',
  prometheus: 'docker.io/prom/prometheus:v2.42.0',
  alertmanager: 'docker.io/prom/alertmanager:v0.25.0',
  registry: 'docker.io/library/registry:2.8.3',
  modelpilot: DEFAULT_UPDATER_IMAGE,
};

/** The secret files the bundle mounts: where the stack's config reads them. */
const AGENT_SECRETS = '/var/run/secrets/modelpilot';

/** Renders the bundle: file name → content. */
export function singleHostBundle(stack: SelfHealingModelStack, options: SingleHostOptions = {}): Record<string, string> {
  const model = stack.model;
  const name = model.modelName;
  const [blue, green] = options.modelPorts ?? [9001, 9002];
  checkPort('modelPorts[0]', blue);
  checkPort('modelPorts[1]', green);
  if (blue === green) throw new Error(`'singleHost.modelPorts' is [${blue}, ${green}]; give two different ports, e.g. [9001, 9002]`);
  const listen = options.listen ?? `0.0.0.0:${model.servicePort}`;
  const admin = options.proxyAdmin ?? '127.0.0.1:9999';
  const promPort = options.prometheusPort ?? 9090;
  const amPort = options.alertmanagerPort ?? 9093;
  const agentPort = options.agentPort ?? 8081;
  for (const [k, v] of [['prometheusPort', promPort], ['alertmanagerPort', amPort], ['agentPort', agentPort]] as const) checkPort(k, v);
  const socket = options.dockerSocket ?? '/var/run/docker.sock';
  checkBundle(stack, { listen, admin, socket, ports: { 'modelPorts[0]': blue, 'modelPorts[1]': green, prometheusPort: promPort, alertmanagerPort: amPort, agentPort } });
  const img = { ...SINGLE_HOST_IMAGES, ...options.images };
  const container = modelContainer(stack);
  const readyPath = container.readyPath;
  const scope = stack.node.id;
  const files: Record<string, string> = {};
  const secrets: string[] = [];

  // With the agent, the rotation it decides survives an HAProxy restart (the server-state file in its state volume).
  files['haproxy.cfg'] = haproxyConfig({ backend: name, listen, ports: [blue, green], readyPath, runtimeApi: admin,
    ...(stack.updater ? { stateFile: PROXY_STATE_FILE } : {}) });

  const services: Record<string, Record<string, unknown>> = {};
  const volumes: Record<string, Record<string, never>> = {};
  const stopSeconds = container.graceSeconds;
  services[name] = {
    image: model.image.toString(),
    container_name: name,
    network_mode: 'host',
    restart: 'unless-stopped',
    stop_grace_period: `${stopSeconds}s`,
    // MODEL_VERSION is left to the image (the agent replaces the image, and the version with it).
    environment: { ...withoutKey(container.env, MODEL_SERVER_ENV.version), [MODEL_SERVER_ENV.port]: String(blue), HOST: '127.0.0.1', [MODEL_SERVER_ENV.name]: name },
    labels: {
      [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.scope]: scope, [DOCKER_LABELS.model]: name,
      [DOCKER_LABELS.policy]: model.updatePolicy.toString(),
      [DOCKER_LABELS.readyUrl]: `http://127.0.0.1:${blue}${readyPath}`,
      [DOCKER_LABELS.proxyBackend]: name, [DOCKER_LABELS.proxyPorts]: `${blue},${green}`,
      'modelpilot.stop-timeout': String(stopSeconds),
    },
  };
  services.proxy = {
    image: img.proxy, network_mode: 'host', restart: 'unless-stopped',
    volumes: ['./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro', ...(stack.updater ? [`modelpilot-state:${AGENT_PATHS.state}:ro`] : [])],
    command: ['haproxy', '-db', '-f', '/usr/local/etc/haproxy/haproxy.cfg'],
  };

  // --- registry (in-cluster → on the host, at the port its image references use)
  const registry = stack.registry;
  let registryHost: string | undefined;
  if (registry?.inCluster) {
    registryHost = registry.host;
    const port = Number(/:(\d+)$/.exec(registry.host)?.[1] ?? 5000);
    const config = { ...(registry as unknown as { config: Record<string, unknown> }).config };
    delete config.notifications; // the agent polls; a webhook would need the token in this file
    const http = { ...(config.http as Record<string, unknown>), addr: `127.0.0.1:${port}` };
    files['registry.yml'] = stringify({ ...config, http });
    const htpasswd = ((config.auth as { htpasswd?: { path?: string } } | undefined)?.htpasswd?.path);
    services.registry = {
      image: img.registry, network_mode: 'host', restart: 'unless-stopped',
      volumes: ['./registry.yml:/etc/docker/registry/config.yml:ro', 'registry-data:/var/lib/registry',
        ...(htpasswd ? [`./secrets/registry/${htpasswd.split('/').pop()}:${htpasswd}:ro`] : [])],
    };
    volumes['registry-data'] = {};
    if (htpasswd) secrets.push(`registry/${htpasswd.split('/').pop()} (the registry's htpasswd file, mounted at ${htpasswd})`);
  }

  // --- monitoring
  const alerts = stack.monitoring?.alerts;
  const scrapeInterval = stack.monitoring?.scrapeInterval;
  const prometheus: Record<string, unknown> = {
    global: { scrape_interval: scrapeInterval ? toPromDuration(scrapeInterval) : '15s', evaluation_interval: '15s' },
    ...(alerts ? { rule_files: ['/etc/prometheus/rules.yml'] } : {}),
    ...(stack.alerting ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] } } : {}),
    scrape_configs: [
      {
        // Every running container of the model (both slots during an update), listed by the agent (HTTP service
        // discovery): a new version is scraped within seconds of its start, so the gate sees it in its bake window.
        job_name: name,
        metrics_path: model.metricsPath,
        // Without the agent there is no one to ask: both ports, and the idle one is reported down.
        ...(stack.updater ? { http_sd_configs: [{ url: `http://127.0.0.1:${agentPort}/sd/targets`, refresh_interval: '2s' }] }
          : { static_configs: [{ targets: [`127.0.0.1:${blue}`, `127.0.0.1:${green}`], labels: { model: name } }] }),
        relabel_configs: [
          { source_labels: ['model'], regex: escape(name), action: 'keep' },
          { target_label: 'namespace', replacement: model.namespace },
        ],
      },
      // the labels the updater alerts select this updater by (the same as its PodMonitor on Kubernetes)
      ...(stack.updater ? [{ job_name: stack.updater.metricLabels.job, static_configs: [{ targets: [`127.0.0.1:${agentPort}`], labels: { namespace: stack.updater.metricLabels.namespace } }] }]
        : []),
    ],
  };
  files['prometheus.yml'] = stringify(prometheus);
  if (alerts) files['rules.yml'] = stringify({ groups: [alerts.group] });
  services.prometheus = {
    image: img.prometheus, network_mode: 'host', restart: 'unless-stopped',
    command: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', `--web.listen-address=127.0.0.1:${promPort}`],
    volumes: ['./prometheus.yml:/etc/prometheus/prometheus.yml:ro', ...(alerts ? ['./rules.yml:/etc/prometheus/rules.yml:ro'] : []),
      'prometheus-data:/prometheus'],
  };
  volumes['prometheus-data'] = {};

  // --- alerting
  const updater = stack.updater;
  if (stack.alerting) {
    const am = stack.alerting.toAlertmanagerConfig();
    const text = stringify(am).replace(updater ? new RegExp(escape(updater.webhookUrl('alertmanager')), 'g') : /$^/, `http://127.0.0.1:${agentPort}/webhooks/alertmanager`);
    files['alertmanager.yml'] = text;
    const mount = stack.alerting.secretsMountPath;
    for (const f of new Set([...text.matchAll(new RegExp(`${escape(mount)}/([^\\s'"]+)`, 'g'))].map((m) => m[1]))) {
      secrets.push(`alertmanager/${f} (read by Alertmanager at ${mount}/${f})`);
    }
    services.alertmanager = {
      image: img.alertmanager, network_mode: 'host', restart: 'unless-stopped',
      command: ['--config.file=/etc/alertmanager/alertmanager.yml', '--storage.path=/alertmanager', `--web.listen-address=127.0.0.1:${amPort}`,
        '--cluster.listen-address='],
      volumes: ['./alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro', `./secrets/alertmanager:${mount}:ro`, 'alertmanager-data:/alertmanager'],
    };
    volumes['alertmanager-data'] = {};
  }

  // --- the agent
  if (updater) {
    const config = JSON.parse(JSON.stringify(updater.config)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    config.targets = {
      docker: { socket: '/var/run/docker.sock', scope, stopTimeout: `${stopSeconds}s`, proxy: { haproxy: admin, drainTimeout: `${stopSeconds}s`, stateFile: PROXY_STATE_FILE } },
    };
    config.registries = { ...config.registries };
    delete config.registries.mirrors;
    // A registry on this host answers plain HTTP (Docker also trusts 127.0.0.0/8 without TLS).
    const local = /^(localhost|127\.\d+\.\d+\.\d+)(:\d+)?$/.test(model.image.registry) ? [model.image.registry] : [];
    config.registries.insecure = [...new Set([...(config.registries.insecure ?? []), ...local])];
    if (config.registries.insecure.length === 0) delete config.registries.insecure;
    if (registryHost) {
      config.registries.insecure = [registryHost];
      if (!secrets.some((s) => s.startsWith('registry/'))) delete config.registries.dockerConfig;
    }
    config.health = { ...config.health, ...(config.health?.prometheus ? { prometheus: { ...config.health.prometheus, url: `http://127.0.0.1:${promPort}` } } : {}) };
    config.webhooks = { ...config.webhooks, listen: `127.0.0.1:${agentPort}` };
    const agentYaml = stringify(config);
    files['agent.yaml'] = agentYaml;
    for (const f of new Set([...agentYaml.matchAll(new RegExp(`${escape(AGENT_SECRETS)}/([^\\s'"]+)`, 'g'))].map((m) => m[1]))) {
      secrets.push(`modelpilot/${f} (read by the agent at ${AGENT_SECRETS}/${f})`);
    }
    services.modelpilot = {
      image: img.modelpilot, network_mode: 'host', restart: 'unless-stopped',
      command: ['agent', '--config', '/etc/modelpilot/agent.yaml'],
      volumes: [`${socket}:/var/run/docker.sock`, './agent.yaml:/etc/modelpilot/agent.yaml:ro', `./secrets/modelpilot:${AGENT_SECRETS}:ro`,
        'modelpilot-state:/var/lib/modelpilot'],
      depends_on: ['proxy', 'prometheus'],
    };
    volumes['modelpilot-state'] = {};
  }

  files['compose.yaml'] = `# Generated by modelpilot from stack '${scope}' (npx modelpilot synth --target compose).\n`
    + `# Start it with: docker compose -p ${scope} up -d   (or docker-compose -p ${scope} up -d)\n`
    + '# Host networking throughout: users reach the model through the proxy only; the rest binds 127.0.0.1.\n'
    + stringify({ services, volumes });
  files['SECRETS.md'] = `# Secret files for stack '${scope}'\n\nCreate these next to compose.yaml before \`docker compose up -d\` `
    + '(they are mounted read-only; keep them out of Git):\n\n'
    + (secrets.length ? secrets.map((s) => `- \`secrets/${s.replace(/ \(/, '` (')}`).join('\n') : '- none') + '\n';
  return files;
}

function withoutKey(o: Record<string, string>, key: string): Record<string, string> {
  const { [key]: _drop, ...rest } = o;
  return rest;
}

/** `[host]:port` as HAProxy's `bind` takes it: an IPv4 literal, `[IPv6]`, `*`, a host name or nothing, and a port. */
const BIND_RE = /^(\[[0-9a-fA-F:.]+\]|\*|[A-Za-z0-9.-]*):(\d{1,5})$/;

/** @internal Why `value` is not an address HAProxy binds to (`haproxy -c` refuses it); undefined when it is one. */
export function bindProblem(value: string, example: string): string | undefined {
  const m = typeof value === 'string' ? BIND_RE.exec(value) : null;
  if (!m) return `is not an address HAProxy can bind; write it as host:port without scheme, e.g. '${example}'`;
  const [, host, port] = m;
  if (/^[\d.]+$/.test(host) && !(host.split('.').length === 4 && host.split('.').every((o) => o !== '' && Number(o) <= 255))) {
    return `has '${host}', which is not an IPv4 address; e.g. '${example}'`;
  }
  if (Number(port) < 1 || Number(port) > 65535) return `has port ${port}; give a port between 1 and 65535`;
  return undefined;
}

/**
 * The bundle as a whole, before anything is rendered (#27): HAProxy's addresses are ones `haproxy -c` accepts, the
 * runtime API is one the agent can connect to, no two services listen on one port of the host (host networking:
 * the second would fail to start), and the Docker socket is an absolute path (a relative one is read by compose as
 * a named volume).
 */
function checkBundle(stack: SelfHealingModelStack, o: { listen: string; admin: string; socket: string; ports: Record<string, number> }): void {
  const listenProblem = bindProblem(o.listen, '0.0.0.0:8080');
  if (listenProblem) throw new Error(`'singleHost.listen' value '${o.listen}' ${listenProblem}`);
  if (!o.admin.startsWith('/')) {
    const adminProblem = bindProblem(o.admin, '127.0.0.1:9999');
    if (adminProblem) throw new Error(`'singleHost.proxyAdmin' value '${o.admin}' ${adminProblem}`);
    if (/^(\*|0\.0\.0\.0|\[::\]|):/.test(o.admin)) {
      throw new Error(`'singleHost.proxyAdmin' value '${o.admin}' listens on every address: HAProxy's runtime API lets anyone who reaches it `
        + "take the model out of service, and the agent must connect to one address; give '127.0.0.1:<port>' or a unix socket path");
    }
  }
  if (typeof o.socket !== 'string' || !o.socket.startsWith('/') || /[\s:]/.test(o.socket)) {
    throw new Error(`'singleHost.dockerSocket' value '${o.socket}' is not an absolute path (compose reads a relative one as a named volume, `
      + "and ':' or a space splits the mount); give the engine's socket on the host, e.g. '/var/run/docker.sock' or '/run/podman/podman.sock'");
  }
  const ports: Array<[string, number]> = [['listen', Number(BIND_RE.exec(o.listen)![2])], ...Object.entries(o.ports)];
  if (!o.admin.startsWith('/')) ports.push(['proxyAdmin', Number(BIND_RE.exec(o.admin)![2])]);
  if (stack.registry?.inCluster) ports.push(['registry port (from its host)', Number(/:(\d+)$/.exec(stack.registry.host)?.[1] ?? 5000)]);
  const seen = new Map<number, string>();
  for (const [field, port] of ports) {
    const other = seen.get(port);
    if (other !== undefined) {
      throw new Error(`'singleHost.${field}' and '${other.startsWith('registry') ? other : `singleHost.${other}`}' both use port ${port} of the host; `
        + 'every service of the bundle runs on the host network, so the second could not start: give each its own port');
    }
    seen.set(port, field);
  }
}

function checkPort(field: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`'singleHost.${field}' is ${port}; give a port between 1 and 65535`);
  }
}


function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** The model container as rendered: plain env values, the readiness path, the termination grace. */
function modelContainer(stack: SelfHealingModelStack): { env: Record<string, string>; readyPath: string; graceSeconds: number } {
  interface RenderedContainer { name: string; env?: Array<{ name: string; value?: string }>; readinessProbe?: { httpGet?: { path?: string } } }
  interface RenderedPod { terminationGracePeriodSeconds?: number; containers: RenderedContainer[] }
  const d = stack.model.deployment.toJson() as { spec: { template: { spec: RenderedPod } } };
  const pod = d.spec.template.spec;
  const c = pod.containers.find((x) => x.name === stack.model.containerName) ?? pod.containers[0];
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
  return { env, readyPath: c.readinessProbe?.httpGet?.path ?? '/health/ready', graceSeconds: pod.terminationGracePeriodSeconds ?? 30 };
}
