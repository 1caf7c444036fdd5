/**
 * End to end with real parts where this machine has them: Debian's distribution registry (pushes notify the agent's
 * authenticated webhook), the whole agent as `startAgent` builds it from a validated agent.yaml (registry client,
 * webhook server, reconcile loop, health gate with its synthetic probe, quarantine, metrics), and the Kubernetes
 * target reaching the cluster through a kubeconfig file. Only the API server is the fake (test/support/fake-kube).
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { parseConfig } from '../../agent/config';
import { AgentHandle, startAgent } from '../../agent/main';
import { K8S_ANNOTATIONS } from '../../agent/targets/kubernetes';
import { FakeKube, fixture, Json } from '../support/fake-kube';
import { pushEmptyImage, startRegistry, TestRegistry } from '../support/registry';
import { freePort, waitFor } from '../support/tools';

jest.setTimeout(120_000);

const TOKEN = 'k8s-e2e-token-0123456789';

/** One shared helper: a minimal OCI image pushed under a tag (test/support/registry.ts). */
const pushTag = pushEmptyImage;

describe('the agent on a (fake) cluster, fed by the real registry', () => {
  let reg: TestRegistry | undefined;
  let fake: FakeKube | undefined;
  let agent: AgentHandle | undefined;
  let probe: http.Server | undefined;
  let dir: string;

  afterEach(async () => {
    await agent?.stop();
    await fake?.stop();
    await reg?.stop();
    await new Promise<void>((resolve) => (probe ? probe.close(() => resolve()) : resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a push rolls the Deployment forward; a crash-looping push is rolled back and quarantined', async () => {
    // GIVEN the agent's port, and a registry that notifies the agent's webhook of every push
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-k8s-e2e-'));
    const agentPort = await freePort();
    reg = await startRegistry({
      notifications: { url: `http://127.0.0.1:${agentPort}/webhooks/registry`, headers: { Authorization: `Bearer ${TOKEN}` }, ignorePulls: true },
    });
    const repo = `${reg.host}/models/recsys`;
    const d100 = await pushTag(reg, 'models/recsys', '1.0.0');
    // AND a cluster whose Deployment runs 1.0.0; pods of 1.2.0 crash-loop
    const deployment = fixture<Json>('deployment-recsys.json');
    deployment.spec.template.spec.containers[0].image = `${repo}:1.0.0@${d100}`;
    fake = await FakeKube.start({ deployments: [deployment], replicaSets: [], behaviour: (img) => (img.includes(':1.2.0') ? 'crashloop' : 'ready') });
    fs.writeFileSync(path.join(dir, 'kubeconfig'), YAML.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'e2e',
      clusters: [{ name: 'fake', cluster: { server: fake.url } }],
      users: [{ name: 'agent', user: { token: 'agent-token' } }],
      contexts: [{ name: 'e2e', context: { cluster: 'fake', user: 'agent', namespace: 'ml' } }],
    }));
    // AND a synthetic probe endpoint (no Prometheus here: the SLO check is Inconclusive, the probe decides)
    probe = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    await new Promise<void>((resolve) => probe!.listen(0, '127.0.0.1', resolve));
    fs.writeFileSync(path.join(dir, 'token'), TOKEN);
    const config = parseConfig({
      targets: { kubernetes: { namespace: 'ml', deployments: ['recsys'], container: 'model', kubeconfig: path.join(dir, 'kubeconfig') } },
      images: [{ repository: repo, policy: 'semver:minor' }],
      pollInterval: '1h',
      registries: { insecure: [reg.host] },
      health: {
        readinessTimeout: '30s', bakeWindow: '0s', inconclusive: 'probe',
        probe: { url: `http://127.0.0.1:${(probe.address() as AddressInfo).port}/predict`, count: 3, interval: '10ms' },
      },
      rollback: { maxAttempts: 2, attemptTimeout: '30s', backoff: { initial: '100ms', max: '1s' } },
      webhooks: { listen: `127.0.0.1:${agentPort}`, bearerTokenFile: path.join(dir, 'token') },
      stateDir: path.join(dir, 'state'),
    }, 'e2e agent.yaml');
    const logs: string[] = [];
    const log = (level: string) => (msg: string, fields?: Record<string, unknown>) => logs.push(JSON.stringify({ level, msg, ...fields }));
    agent = await startAgent(config, { logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') } });
    const image = (): string => fake!.deployment('recsys').spec.template.spec.containers[0].image;
    const inFlight = (): string | undefined => fake!.deployment('recsys').metadata.annotations[K8S_ANNOTATIONS.inFlight];
    const diagnostics = (): string => `agent log:\n${logs.slice(-30).join('\n')}\nregistry log:\n${reg!.logs().slice(-2000)}`;

    // WHEN 1.1.0 is pushed
    const d110 = await pushTag(reg, 'models/recsys', '1.1.0');
    // THEN the registry's notification makes the agent roll it out, verify it and promote it
    await waitFor(() => image() === `${repo}:1.1.0@${d110}` && inFlight() === undefined, { what: 'recsys promoted to 1.1.0', timeoutMs: 60_000, diagnostics });
    expect(fake.deployment('recsys').spec.template.spec.containers[0].env).toContainEqual({ name: 'MODEL_VERSION', value: '1.1.0' });

    // WHEN 1.2.0, whose pods crash-loop, is pushed
    const d120 = await pushTag(reg, 'models/recsys', '1.2.0');
    // THEN it is tried, rolled back to 1.1.0 and quarantined
    const quarantineFile = path.join(dir, 'state', 'quarantine.json');
    await waitFor(() => fs.existsSync(quarantineFile) && fs.readFileSync(quarantineFile, 'utf8').includes('1.2.0') && inFlight() === undefined,
      { what: '1.2.0 rolled back and quarantined', timeoutMs: 60_000, diagnostics });
    expect(image()).toBe(`${repo}:1.1.0@${d110}`);
    expect(fake.patches.some((p) => JSON.stringify(p.body).includes(d120))).toBe(true);
    expect(fake.deployment('recsys').metadata.annotations[K8S_ANNOTATIONS.changeCause]).toBe('modelpilot: rollback 1.2.0 -> 1.1.0 (attempt 1)');
    const metrics = await (await fetch(`http://127.0.0.1:${agent.port}/metrics`)).text();
    expect(metrics).toMatch(/^modelpilot_updater_updates_total\{result="promoted"\} 1$/m);
    expect(metrics).toMatch(/^modelpilot_updater_updates_total\{result="rolled_back"\} 1$/m);
    expect(metrics).toMatch(/^modelpilot_updater_quarantined_versions 1$/m);
  });
});
