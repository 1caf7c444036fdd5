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
 * | `golden/<file>`     | the model's golden set, read by the agent's quality gate (only with the model's `quality`) |
 * | `SECRETS.md`        | the secret files to create next to compose.yaml before `compose up`                |
 *
 * Every service uses host networking: the proxy is the only listener meant for users (`listen`); Prometheus,
 * Alertmanager, the agent and the model's two ports bind 127.0.0.1.
 */
import { stringify } from 'yaml';
import { DEFAULT_UPDATER_IMAGE, DOCKER_LABELS, MODEL_SERVER_ENV } from '../core/contract/names';
import { AGENT_PATHS, PROXY_STATE_FILE } from '../core/contract/paths';
import { toPromDuration } from '../core/duration';
import { portableYaml } from '../core/yaml';
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

/** The proxy's port when the model's Service port (80 by default) is one its non-root user cannot bind. */
const DEFAULT_UNPRIVILEGED_LISTEN_PORT = 8080;
/** The variable compose reads the Docker socket's group from when `dockerSocketGroup` is not set. */
export const DOCKER_GID_VARIABLE = 'MODELPILOT_DOCKER_GID';

/** The secret files the bundle mounts: where the stack's config reads them. */
const AGENT_SECRETS = '/var/run/secrets/modelpilot';

/** What the parts of the bundle share: the stack, its model container as the engine takes it, the ports and images. */
interface BundleContext {
  readonly stack: SelfHealingModelStack;
  readonly options: SingleHostOptions;
  readonly name: string;
  readonly scope: string;
  readonly container: ReturnType<typeof modelContainer>;
  /** Two containers side by side behind the proxy; false for Recreate (one copy fits, e.g. on the GPU). */
  readonly blueGreen: boolean;
  readonly ports: { blue: number; green: number; prometheus: number; alertmanager: number; agent: number };
  readonly listen: string;
  readonly admin: string;
  readonly socket: string;
  readonly images: Readonly<Record<SingleHostService, string>>;
}

/** One part of the bundle: its services and named volumes (in order), its files, the secret files it reads. */
interface BundlePart {
  readonly services?: Record<string, Record<string, unknown>>;
  readonly volumes?: readonly string[];
  readonly files?: Record<string, string>;
  readonly secrets?: readonly string[];
}

/**
 * Renders the bundle: file name → content. The parts in order: the model, the proxy, the registry (in-cluster only),
 * monitoring, alerting, the agent; then compose.yaml and SECRETS.md from what they declared.
 */
export function singleHostBundle(stack: SelfHealingModelStack, options: SingleHostOptions = {}): Record<string, string> {
  const ctx = bundleContext(stack, options);
  const registry = registryPart(ctx);
  const parts = [modelPart(ctx), proxyPart(ctx), registry, monitoringPart(ctx), alertingPart(ctx),
    agentPart(ctx, registry.host, (registry.secrets ?? []).length > 0)];
  const files: Record<string, string> = Object.assign({}, ...parts.map((p) => p.files ?? {}));
  const services: Record<string, Record<string, unknown>> = Object.assign({}, ...parts.map((p) => p.services ?? {}));
  const volumes: Record<string, Record<string, never>> = Object.fromEntries(parts.flatMap((p) => p.volumes ?? []).map((v) => [v, {}]));
  files['compose.yaml'] = composeFile(ctx, services, volumes);
  files['SECRETS.md'] = secretsFile(ctx, parts.flatMap((p) => p.secrets ?? []));
  return files;
}

/** The ports, addresses and images the options ask for (checked as a whole: {@link checkBundle}). */
function bundleContext(stack: SelfHealingModelStack, options: SingleHostOptions): BundleContext {
  const model = stack.model;
  const [blue, green] = options.modelPorts ?? [9001, 9002];
  checkPort('modelPorts[0]', blue);
  checkPort('modelPorts[1]', green);
  if (blue === green) throw new Error(`'singleHost.modelPorts' is [${blue}, ${green}]; give two different ports, e.g. [9001, 9002]`);
  // The proxy image's user cannot bind a port below 1024 on the host network (no per-container sysctl there).
  const listen = options.listen ?? `0.0.0.0:${model.servicePort >= 1024 ? model.servicePort : DEFAULT_UNPRIVILEGED_LISTEN_PORT}`;
  const admin = options.proxyAdmin ?? '127.0.0.1:9999';
  const ports = {
    blue, green, prometheus: options.prometheusPort ?? 9090, alertmanager: options.alertmanagerPort ?? 9093, agent: options.agentPort ?? 8081,
  };
  for (const [k, v] of [['prometheusPort', ports.prometheus], ['alertmanagerPort', ports.alertmanager], ['agentPort', ports.agent]] as const) checkPort(k, v);
  const socket = options.dockerSocket ?? '/var/run/docker.sock';
  checkBundle(stack, { listen, admin, socket, proxyUser: options.proxyUser, socketGroup: options.dockerSocketGroup, ports: {
    'modelPorts[0]': blue, 'modelPorts[1]': green, prometheusPort: ports.prometheus, alertmanagerPort: ports.alertmanager, agentPort: ports.agent,
  } });
  const container = modelContainer(stack);
  return {
    stack, options, name: model.modelName, scope: stack.node.id, container, blueGreen: container.strategy !== 'Recreate',
    ports, listen, admin, socket, images: { ...SINGLE_HOST_IMAGES, ...options.images },
  };
}

/** The model's container: what the pod declares as the engine takes it, labelled for the agent (and for blue/green). */
function modelPart({ stack, name, scope, container, blueGreen, ports }: BundleContext): BundlePart {
  const model = stack.model;
  const { blue, green } = ports;
  const stopSeconds = container.graceSeconds;
  return {
    services: { [name]: {
      image: model.image.toString(),
      container_name: name,
      network_mode: 'host',
      restart: 'unless-stopped',
      stop_grace_period: `${stopSeconds}s`,
      // MODEL_VERSION is left to the image (the agent replaces the image, and the version with it).
      environment: { ...withoutKey(container.env, MODEL_SERVER_ENV.version), [MODEL_SERVER_ENV.port]: String(blue), HOST: '127.0.0.1', [MODEL_SERVER_ENV.name]: name },
      ...(Object.keys(container.secretEnv).length > 0 ? { env_file: [`./secrets/${name}/env`] } : {}),
      labels: {
        [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.scope]: scope, [DOCKER_LABELS.model]: name,
        [DOCKER_LABELS.policy]: model.updatePolicy.toString(),
        [DOCKER_LABELS.readyUrl]: `http://127.0.0.1:${blue}${container.readyPath}`,
        // Recreate: the agent stops the old container before it starts the new one, on the same port; without the
        // proxy labels it never runs two copies side by side.
        ...(blueGreen ? { [DOCKER_LABELS.proxyBackend]: name, [DOCKER_LABELS.proxyPorts]: `${blue},${green}` } : {}),
        'modelpilot.stop-timeout': String(stopSeconds),
      },
      // What the pod declares, as the engine takes it (the agent carries HostConfig to every new version).
      ...container.compose,
      ...(container.cacheVolumes.length > 0 ? { volumes: container.cacheVolumes.map((v) => `${v.volume}:${v.mountPath}${v.readOnly ? ':ro' : ''}`) } : {}),
    } },
    volumes: container.cacheVolumes.map((v) => v.volume),
    secrets: Object.keys(container.secretEnv).length > 0
      ? [`${name}/env (an env file, KEY=value lines, read by compose into the model container: `
        + `${Object.entries(container.secretEnv).map(([k, ref]) => `${k} from Secret '${ref.name}' key '${ref.key}'`).join(', ')})`]
      : [],
  };
}

/** HAProxy: the zero-downtime switch; with the agent, the rotation it decides survives a restart (the server-state file). */
function proxyPart({ stack, name, container, ports, listen, admin, options, images }: BundleContext): BundlePart {
  return {
    files: { 'haproxy.cfg': haproxyConfig({ backend: name, listen, ports: [ports.blue, ports.green], readyPath: container.readyPath, runtimeApi: admin,
      ...(stack.updater ? { stateFile: PROXY_STATE_FILE } : {}) }) },
    services: { proxy: {
      image: images.proxy, network_mode: 'host', restart: 'unless-stopped',
      volumes: ['./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro', ...(stack.updater ? [`modelpilot-state:${AGENT_PATHS.state}:ro`] : [])],
      command: ['haproxy', '-db', '-f', '/usr/local/etc/haproxy/haproxy.cfg'],
      ...(options.proxyUser !== undefined ? { user: options.proxyUser } : {}),
      // The agent's container is created first, so the state volume starts as the agent image's state directory
      // (owned by its uid); the proxy only reads the server-state file from it.
      ...(stack.updater ? { depends_on: ['modelpilot'] } : {}),
    } },
  };
}

/** An in-cluster registry runs on the host, at the port its image references use; `host` is that registry's. */
function registryPart({ stack, images }: BundleContext): BundlePart & { host?: string } {
  const registry = stack.registry;
  if (!registry?.inCluster) return {};
  const port = Number(/:(\d+)$/.exec(registry.host)?.[1] ?? 5000);
  const config = { ...(registry as unknown as { config: Record<string, unknown> }).config };
  delete config.notifications; // the agent polls; a webhook would need the token in this file
  const http = { ...(config.http as Record<string, unknown>), addr: `127.0.0.1:${port}` };
  const htpasswd = ((config.auth as { htpasswd?: { path?: string } } | undefined)?.htpasswd?.path);
  return {
    host: registry.host,
    files: { 'registry.yml': stringify({ ...config, http }) },
    services: { registry: {
      image: images.registry, network_mode: 'host', restart: 'unless-stopped',
      volumes: ['./registry.yml:/etc/docker/registry/config.yml:ro', 'registry-data:/var/lib/registry',
        ...(htpasswd ? [`./secrets/registry/${htpasswd.split('/').pop()}:${htpasswd}:ro`] : [])],
    } },
    volumes: ['registry-data'],
    secrets: htpasswd ? [`registry/${htpasswd.split('/').pop()} (the registry's htpasswd file, mounted at ${htpasswd})`] : [],
  };
}

/** Prometheus: the model's running containers (service discovery from the agent, else both ports), the agent, the rules. */
function monitoringPart({ stack, name, ports, images }: BundleContext): BundlePart {
  const model = stack.model;
  const server = model.slo.server;
  if (server.metricsPort) {
    // Both slots share this host's network: the agent's service discovery lists each slot's serving port only.
    throw new Error(`the '${server.name}' server serves metrics on its own port ${server.metricsPort}, which the single-host bundle does not `
      + 'scrape (it scrapes each slot\'s serving port); deploy this stack to Kubernetes, or serve metrics on the serving port and declare '
      + "the server with ModelServer.custom({ ... }) without 'metricsPort'");
  }
  const alerts = stack.monitoring?.alerts;
  const scrapeInterval = stack.monitoring?.scrapeInterval;
  const prometheus: Record<string, unknown> = {
    global: { scrape_interval: scrapeInterval ? toPromDuration(scrapeInterval) : '15s', evaluation_interval: '15s' },
    ...(alerts ? { rule_files: ['/etc/prometheus/rules.yml'] } : {}),
    ...(stack.alerting ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${ports.alertmanager}`] }] }] } } : {}),
    scrape_configs: [
      {
        // Every running container of the model (both slots during an update), listed by the agent (HTTP service
        // discovery): a new version is scraped within seconds of its start, so the gate sees it in its bake window.
        job_name: name,
        metrics_path: model.metricsPath,
        // Without the agent there is no one to ask: both ports, and the idle one is reported down.
        ...(stack.updater ? { http_sd_configs: [{ url: `http://127.0.0.1:${ports.agent}/sd/targets`, refresh_interval: '2s' }] }
          : { static_configs: [{ targets: [`127.0.0.1:${ports.blue}`, `127.0.0.1:${ports.green}`], labels: { model: name } }] }),
        relabel_configs: [
          { source_labels: ['model'], regex: escape(name), action: 'keep' },
          { target_label: 'namespace', replacement: model.namespace },
        ],
      },
      // the labels the updater alerts select this updater by (the same as its PodMonitor on Kubernetes)
      ...(stack.updater ? [{ job_name: stack.updater.metricLabels.job, static_configs: [{ targets: [`127.0.0.1:${ports.agent}`],
        labels: { namespace: stack.updater.metricLabels.namespace } }] }] : []),
    ],
  };
  return {
    files: { 'prometheus.yml': stringify(prometheus), ...(alerts ? { 'rules.yml': stringify({ groups: [alerts.group] }) } : {}) },
    services: { prometheus: {
      image: images.prometheus, network_mode: 'host', restart: 'unless-stopped',
      command: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', `--web.listen-address=127.0.0.1:${ports.prometheus}`],
      volumes: ['./prometheus.yml:/etc/prometheus/prometheus.yml:ro', ...(alerts ? ['./rules.yml:/etc/prometheus/rules.yml:ro'] : []),
        'prometheus-data:/prometheus'],
    } },
    volumes: ['prometheus-data'],
  };
}

/** Alertmanager: the same routes and receivers; the updater route points at the agent on the host. */
function alertingPart({ stack, ports, images }: BundleContext): BundlePart {
  if (!stack.alerting) return {};
  const updater = stack.updater;
  const am = stack.alerting.toAlertmanagerConfig();
  const text = stringify(am).replace(updater ? new RegExp(escape(updater.webhookUrl('alertmanager')), 'g') : /$^/,
    `http://127.0.0.1:${ports.agent}/webhooks/alertmanager`);
  const mount = stack.alerting.secretsMountPath;
  return {
    files: { 'alertmanager.yml': text },
    services: { alertmanager: {
      image: images.alertmanager, network_mode: 'host', restart: 'unless-stopped',
      command: ['--config.file=/etc/alertmanager/alertmanager.yml', '--storage.path=/alertmanager', `--web.listen-address=127.0.0.1:${ports.alertmanager}`,
        '--cluster.listen-address='],
      volumes: ['./alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro', `./secrets/alertmanager:${mount}:ro`, 'alertmanager-data:/alertmanager'],
    } },
    volumes: ['alertmanager-data'],
    secrets: [...new Set([...text.matchAll(new RegExp(`${escape(mount)}/([^\\s'"]+)`, 'g'))].map((m) => m[1]))]
      .map((f) => `alertmanager/${f} (read by Alertmanager at ${mount}/${f})`),
  };
}

/**
 * The agent: the updater's config with the Docker target (blue/green through HAProxy), as the image's non-root user
 * with the Docker socket's group. `registryHost`: the in-cluster registry on this host (plain HTTP); `registryAuth`:
 * it has credentials the agent needs.
 */
function agentPart(ctx: BundleContext, registryHost: string | undefined, registryAuth: boolean): BundlePart {
  const { stack, scope, container, ports, admin, socket, options, images } = ctx;
  const updater = stack.updater;
  if (!updater) {
    if (stack.model.quality) {
      throw new Error(`the stack has no updater, so model '${stack.model.modelName}''s quality gate would never run; add 'updater: {}' or remove 'quality'`);
    }
    return {};
  }
  const stopSeconds = container.graceSeconds;
  const config = JSON.parse(JSON.stringify(updater.config)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  config.targets = {
    docker: { socket: '/var/run/docker.sock', scope, stopTimeout: `${stopSeconds}s`, proxy: { haproxy: admin, drainTimeout: `${stopSeconds}s`, stateFile: PROXY_STATE_FILE } },
  };
  config.registries = { ...config.registries };
  delete config.registries.mirrors;
  // A registry on this host answers plain HTTP (Docker also trusts 127.0.0.0/8 without TLS).
  const imageRegistry = stack.model.image.registry;
  const local = /^(localhost|127\.\d+\.\d+\.\d+)(:\d+)?$/.test(imageRegistry) ? [imageRegistry] : [];
  config.registries.insecure = [...new Set([...(config.registries.insecure ?? []), ...local])];
  if (config.registries.insecure.length === 0) delete config.registries.insecure;
  if (registryHost) {
    config.registries.insecure = [registryHost];
    if (!registryAuth) delete config.registries.dockerConfig;
  }
  config.health = { ...config.health, ...(config.health?.prometheus ? { prometheus: { ...config.health.prometheus, url: `http://127.0.0.1:${ports.prometheus}` } } : {}) };
  config.webhooks = { ...config.webhooks, listen: `127.0.0.1:${ports.agent}` };
  const golden = qualityFiles(stack, config);
  const agentYaml = stringify(config);
  return {
    files: { 'agent.yaml': agentYaml, ...golden },
    services: { modelpilot: {
      image: images.modelpilot, network_mode: 'host', restart: 'unless-stopped',
      command: ['agent', '--config', '/etc/modelpilot/agent.yaml'],
      // The image's non-root user (10001) plus the group that owns the Docker socket on the host.
      group_add: [options.dockerSocketGroup !== undefined ? String(options.dockerSocketGroup)
        : `\${${DOCKER_GID_VARIABLE}:?set ${DOCKER_GID_VARIABLE} to the group id of the Docker socket on this host: `
          + `export ${DOCKER_GID_VARIABLE}=$$(stat -c %g ${socket}) or put it in .env next to compose.yaml}`],
      volumes: [`${socket}:/var/run/docker.sock`, './agent.yaml:/etc/modelpilot/agent.yaml:ro', `./secrets/modelpilot:${AGENT_SECRETS}:ro`,
        `modelpilot-state:${AGENT_PATHS.state}`, ...(Object.keys(golden).length ? [`./golden:${AGENT_PATHS.golden}:ro`] : [])],
      depends_on: ['prometheus'],
    } },
    volumes: ['modelpilot-state'],
    secrets: [...new Set([...agentYaml.matchAll(new RegExp(`${escape(AGENT_SECRETS)}/([^\\s'"]+)`, 'g'))].map((m) => m[1]))]
      .map((f) => `modelpilot/${f} (read by the agent at ${AGENT_SECRETS}/${f})`),
  };
}

/**
 * The model's quality gate: its golden set shipped as `golden/<file>` (mounted at AGENT_PATHS.golden) and
 * `images[].quality` in the agent's config (`config` is changed in place).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function qualityFiles(stack: SelfHealingModelStack, config: Record<string, any>): Record<string, string> {
  const q = stack.model.quality;
  if (!q) return {};
  if (q.goldenSet.text === undefined) {
    throw new Error(`'quality.goldenSet' ${q.goldenSet.source} was not read from a file, so the bundle cannot ship it; use GoldenSet.fromFile('<path>')`);
  }
  const file = q.goldenSet.source;
  const images = (config.images ?? []) as Array<Record<string, unknown>>;
  const image = images.find((i) => i.model === stack.model.modelName);
  if (!image) throw new Error(`the updater does not keep model '${stack.model.modelName}' up to date, so its quality gate would never run; add the model to the updater or remove 'quality'`);
  image.quality = q.toAgentConfig(`${AGENT_PATHS.golden}/${file}`);
  return { [`golden/${file}`]: q.goldenSet.text };
}

/** compose.yaml: a header with how to start it and what one host cannot do of the stack, then the services and volumes. */
function composeFile({ stack, scope, container, blueGreen, socket, options }: BundleContext, services: Record<string, unknown>,
  volumes: Record<string, unknown>): string {
  const notes: string[] = [];
  if (stack.updater && options.dockerSocketGroup === undefined) {
    notes.push(`Before the first start: export ${DOCKER_GID_VARIABLE}=$(stat -c %g ${socket})   (the agent runs as uid 10001 with that group)`);
  }
  if ((container.replicas ?? 1) > 1) notes.push(`replicas: the stack runs ${container.replicas} copies on Kubernetes; one host runs one copy behind the proxy`);
  if (container.nodeSelector) notes.push(`nodeSelector ${JSON.stringify(container.nodeSelector)} applies on Kubernetes only: this host must have what it selects`);
  if (!blueGreen) notes.push('strategy Recreate: the agent stops the running version before it starts the new one (one copy at a time, a short gap)');
  return `# Generated by modelpilot from stack '${scope}' (npx modelpilot synth --target compose).\n`
    + `# Start it with: docker compose -p ${scope} up -d   (or docker-compose -p ${scope} up -d)\n`
    + '# Host networking throughout: users reach the model through the proxy only; the rest binds 127.0.0.1.\n'
    + notes.map((n) => `# ${n}\n`).join('')
    + portableYaml({ services, volumes });
}

/** SECRETS.md: the secret files to create next to compose.yaml, the socket's group, how the engine pulls the model. */
function secretsFile({ stack, scope, container, socket, options }: BundleContext, secrets: readonly string[]): string {
  const updater = stack.updater;
  const pullSecrets = stack.registry?.inCluster ? [] : container.pullSecrets;
  const pullNote = pullSecrets.length === 0 ? ''
    : `\n## Pulling the model image\n\nOn Kubernetes the image is pulled with the Secret(s) ${pullSecrets.map((p) => `'${p}'`).join(', ')}. `
      + `Here the engine pulls it: log it in once, \`docker login ${stack.model.image.registry}\`${updater ? ', and give the agent the same '
        + 'credentials (agent.yaml registries.dockerConfig, listed above when the stack sets it)' : ''}.\n`;
  return `# Secret files for stack '${scope}'\n\nCreate these next to compose.yaml before \`docker compose up -d\` `
    + '(they are mounted read-only; keep them out of Git; the agent reads its files as uid 10001, so make them readable to it, '
    + 'e.g. `chown -R 10001 secrets/modelpilot` or mode 0644):\n\n'
    + (secrets.length ? secrets.map((s) => `- \`secrets/${s.replace(/ \(/, '` (')}`).join('\n') : '- none') + '\n'
    + (updater && options.dockerSocketGroup === undefined
      ? '\n## The Docker socket\'s group\n\nThe agent runs as its image\'s non-root user (uid 10001) and reaches the Docker socket through the group that '
        + `owns it. Compose reads that group from ${DOCKER_GID_VARIABLE} and refuses to start without it:\n\n`
        + `\`\`\`sh\necho ${DOCKER_GID_VARIABLE}=$(stat -c %g ${socket}) >> .env\n\`\`\`\n\n`
        + '(or set `singleHost.dockerSocketGroup` in the stack to write the number into compose.yaml).\n'
      : '')
    + pullNote;
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
function checkBundle(stack: SelfHealingModelStack, o: {
  listen: string; admin: string; socket: string; proxyUser?: string; socketGroup?: number; ports: Record<string, number>;
}): void {
  const listenProblem = bindProblem(o.listen, '0.0.0.0:8080');
  if (listenProblem) throw new Error(`'singleHost.listen' value '${o.listen}' ${listenProblem}`);
  if (o.proxyUser !== undefined && (typeof o.proxyUser !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/.test(o.proxyUser))) {
    throw new Error(`'singleHost.proxyUser' value '${String(o.proxyUser)}' is not a user compose accepts; give 'uid', 'uid:gid' or a user name of the proxy image, e.g. '0'`);
  }
  const listenPort = Number(BIND_RE.exec(o.listen)![2]);
  if (listenPort < 1024 && !/^(0|root)(:|$)/.test(o.proxyUser ?? '')) {
    throw new Error(`'singleHost.listen' value '${o.listen}' has port ${listenPort}, below 1024: the proxy image runs as a non-root user `
      + '(haproxy:2.6: uid 99) on the host network, where it cannot bind it, so the proxy would never start; give a port of 1024 or above, '
      + `e.g. '0.0.0.0:${DEFAULT_UNPRIVILEGED_LISTEN_PORT}' (and forward ${listenPort} to it on the host), or set 'singleHost.proxyUser' to '0' to run the proxy as root`);
  }
  if (o.socketGroup !== undefined && !(Number.isInteger(o.socketGroup) && o.socketGroup >= 0 && o.socketGroup < 2 ** 31)) {
    throw new Error(`'singleHost.dockerSocketGroup' value '${String(o.socketGroup)}' is not a group id; give the number that owns the socket on the host `
      + '(stat -c %g /var/run/docker.sock), e.g. 998: a group name would be looked up inside the agent image, which has no such group');
  }
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
  const ports: Array<[string, number]> = [['listen', listenPort], ...Object.entries(o.ports)];
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

/** The model container as rendered, and what of its pod the engine can take (compose keys). */
interface RenderedModel {
  env: Record<string, string>;
  secretEnv: Record<string, { name: string; key: string }>;
  readyPath: string;
  graceSeconds: number;
  strategy: string;
  replicas?: number;
  nodeSelector?: Record<string, string>;
  /** user, read_only, tmpfs, cap_drop, security_opt, cpus, mem_limit, mem_reservation, deploy (GPUs). */
  compose: Record<string, unknown>;
  /** Named volumes for the model cache (emptyDir or PersistentVolumeClaim). */
  cacheVolumes: Array<{ volume: string; mountPath: string; readOnly: boolean }>;
  /** imagePullSecrets names. */
  pullSecrets: string[];
}

function modelContainer(stack: SelfHealingModelStack): RenderedModel {
  interface RenderedContainer {
    name: string; env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
    readinessProbe?: { httpGet?: { path?: string } };
    resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
    securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
    volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  }
  interface RenderedPod {
    terminationGracePeriodSeconds?: number; containers: RenderedContainer[]; nodeSelector?: Record<string, string>;
    securityContext?: { runAsUser?: number; runAsGroup?: number }; imagePullSecrets?: Array<{ name: string }>;
    volumes?: Array<{ name: string; emptyDir?: { sizeLimit?: string }; persistentVolumeClaim?: { claimName: string; readOnly?: boolean } }>;
  }
  const d = stack.model.deployment.toJson() as { spec: { replicas?: number; strategy?: { type?: string }; template: { spec: RenderedPod } } };
  const pod = d.spec.template.spec;
  const c = pod.containers.find((x) => x.name === stack.model.containerName) ?? pod.containers[0];
  const env: Record<string, string> = {};
  const secretEnv: RenderedModel['secretEnv'] = {};
  for (const e of c.env ?? []) {
    if (typeof e.value === 'string') env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) secretEnv[e.name] = e.valueFrom.secretKeyRef;
  }
  const compose: Record<string, unknown> = {};
  const user = pod.securityContext?.runAsUser;
  if (user !== undefined) compose.user = `${user}:${pod.securityContext?.runAsGroup ?? user}`;
  const tmpfs: string[] = [];
  const cacheVolumes: RenderedModel['cacheVolumes'] = [];
  for (const m of c.volumeMounts ?? []) {
    const v = (pod.volumes ?? []).find((x) => x.name === m.name);
    if (v?.emptyDir && m.mountPath === '/tmp') {
      tmpfs.push(`/tmp:size=${dockerBytes(v.emptyDir.sizeLimit ?? '256Mi', 'model /tmp sizeLimit')}`);
    } else if (v?.emptyDir || v?.persistentVolumeClaim) {
      // one host: a named volume of the bundle (a claim's name becomes the volume's)
      const volume = v.persistentVolumeClaim ? v.persistentVolumeClaim.claimName : `${stack.model.modelName}-${v.name}`;
      cacheVolumes.push({ volume, mountPath: m.mountPath, readOnly: Boolean(m.readOnly || v.persistentVolumeClaim?.readOnly) });
    } else {
      throw new Error(`the model's volume '${m.name}' (mounted at ${m.mountPath}) has no single-host equivalent; `
        + 'the compose target carries emptyDir and PersistentVolumeClaim volumes only: use ModelCache.emptyDir or ModelCache.fromClaim');
    }
  }
  if (c.securityContext?.readOnlyRootFilesystem) compose.read_only = true;
  if (tmpfs.length) compose.tmpfs = tmpfs;
  if (c.securityContext?.capabilities?.drop?.length) compose.cap_drop = [...c.securityContext.capabilities.drop];
  if (c.securityContext?.allowPrivilegeEscalation === false) compose.security_opt = ['no-new-privileges:true'];
  const limits = c.resources?.limits ?? {};
  const requests = c.resources?.requests ?? {};
  if (limits.cpu) compose.cpus = dockerCpus(limits.cpu);
  if (limits.memory) compose.mem_limit = dockerBytes(limits.memory, 'resources.memory.limit');
  if (requests.memory) compose.mem_reservation = dockerBytes(requests.memory, 'resources.memory.request');
  for (const key of new Set([...Object.keys(limits), ...Object.keys(requests)])) {
    if (['cpu', 'memory', 'ephemeral-storage', 'nvidia.com/gpu'].includes(key)) continue;
    throw new Error(`the model's resource '${key}' has no single-host equivalent the engine enforces; `
      + "the compose target carries cpu, memory and 'nvidia.com/gpu' (as a GPU device request): remove it, or deploy this stack to Kubernetes");
  }
  const gpus = Number(limits['nvidia.com/gpu'] ?? requests['nvidia.com/gpu'] ?? 0);
  // Compose's GPU request (Docker's DeviceRequests): the engine gives the container that many NVIDIA GPUs.
  if (gpus > 0) compose.deploy = { resources: { reservations: { devices: [{ driver: 'nvidia', count: gpus, capabilities: ['gpu'] }] } } };
  return {
    env, secretEnv, readyPath: c.readinessProbe?.httpGet?.path ?? '/health/ready', graceSeconds: pod.terminationGracePeriodSeconds ?? 30,
    strategy: d.spec.strategy?.type ?? 'RollingUpdate', replicas: d.spec.replicas, nodeSelector: pod.nodeSelector, compose, cacheVolumes,
    pullSecrets: (pod.imagePullSecrets ?? []).map((p) => p.name),
  };
}

/** Kubernetes quantity suffixes: bytes per unit, and Docker's suffix where it means the same (Docker's are binary). */
const UNITS: Record<string, { bytes: number; docker?: string }> = {
  '': { bytes: 1 }, k: { bytes: 1e3 }, M: { bytes: 1e6 }, G: { bytes: 1e9 }, T: { bytes: 1e12 },
  Ki: { bytes: 1024, docker: 'k' }, Mi: { bytes: 1024 ** 2, docker: 'm' }, Gi: { bytes: 1024 ** 3, docker: 'g' }, Ti: { bytes: 1024 ** 4 },
};

/** A Kubernetes memory quantity as Docker takes it: '48Gi' → '48g', '2G' or '1.5Gi' → bytes. */
function dockerBytes(quantity: string, field: string): string {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|)$/.exec(quantity);
  if (!m) throw new Error(`the model's ${field} '${quantity}' is not a quantity the compose target can convert; give it in Ki, Mi, Gi or bytes`);
  const unit = UNITS[m[2]];
  return unit.docker && Number.isInteger(Number(m[1])) ? `${m[1]}${unit.docker}` : String(Math.round(Number(m[1]) * unit.bytes));
}

/** A Kubernetes CPU quantity as compose `cpus`: '8' → 8, '500m' → 0.5. */
function dockerCpus(quantity: string): number {
  return quantity.endsWith('m') ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity);
}
