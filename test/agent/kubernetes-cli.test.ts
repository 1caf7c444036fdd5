import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { run } from '../../bin/commands/agent';
import { FakeKube, fixture, Json } from '../support/fake-kube';

/** `modelpilot agent --kubeconfig`: the agent on a laptop, talking to a cluster through a kubeconfig file. */
describe('modelpilot agent --kubeconfig', () => {
  let fake: FakeKube;
  let dir: string;
  let out: string[];
  let writes: jest.SpyInstance[];

  beforeEach(async () => {
    // The model image lives on a closed 127.0.0.1 port: the registry poll fails fast and sends nothing off the host.
    const d = fixture<Json>('deployment-recsys.json');
    d.spec.template.spec.containers[0].image = `127.0.0.1:9/models/recsys:1.0.0@sha256:${'1'.repeat(64)}`;
    fake = await FakeKube.start({ deployments: [d] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-kubecli-'));
    fs.writeFileSync(path.join(dir, 'kubeconfig'), YAML.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'laptop',
      clusters: [{ name: 'fake', cluster: { server: fake.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'me', user: { token: 'laptop-token' } }],
      contexts: [{ name: 'laptop', context: { cluster: 'fake', user: 'me', namespace: 'ml' } }],
    }));
    fs.writeFileSync(path.join(dir, 'agent.yaml'), YAML.stringify({
      targets: { kubernetes: { namespace: 'ml', deployments: ['recsys'], container: 'model' } },
      webhooks: { enabled: false, listen: '127.0.0.1:0' },
      stateDir: path.join(dir, 'state'),
    }));
    out = [];
    writes = [
      jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => out.push(String(s)) > 0),
      jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => out.push(String(s)) > 0),
    ];
  });

  afterEach(async () => {
    for (const w of writes) w.mockRestore();
    await fake.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('runs the Kubernetes target against the kubeconfig\'s cluster and stops on SIGTERM', async () => {
    // WHEN
    const exit = run(['--config', path.join(dir, 'agent.yaml'), '--kubeconfig', path.join(dir, 'kubeconfig')]);
    for (const start = Date.now(); !fake.calls.some((c) => c.verb === 'get'); await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() - start > 20_000) throw new Error(`the agent never called the fake API server; output:\n${out.join('')}`);
    }
    process.emit('SIGTERM');
    // THEN
    await expect(exit).resolves.toBe(0);
    expect(fake.calls).toContainEqual({ verb: 'get', group: 'apps', resource: 'deployments', namespace: 'ml', name: 'recsys' });
    expect(fake.deployment('recsys').spec.template.spec.containers[0].image).toBe(`127.0.0.1:9/models/recsys:1.0.0@sha256:${'1'.repeat(64)}`);
  }, 30_000);

  test('exits 2 if the config has no kubernetes target, naming the fix', async () => {
    fs.writeFileSync(path.join(dir, 'docker.yaml'), YAML.stringify({ targets: { docker: {} }, stateDir: path.join(dir, 'state') }));
    const code = await run(['--config', path.join(dir, 'docker.yaml'), '--kubeconfig', path.join(dir, 'kubeconfig'), '--check']);
    expect(code).toBe(2);
    expect(out.join('')).toContain(`'--kubeconfig' value '${path.join(dir, 'kubeconfig')}' has no effect: ${path.join(dir, 'docker.yaml')} has no 'targets.kubernetes' section`);
  });

  test('exits 2 if --kubeconfig has no file', async () => {
    expect(await run(['--config', path.join(dir, 'agent.yaml'), '--kubeconfig'])).toBe(2);
    expect(out.join('')).toContain("'--kubeconfig' needs a file, e.g. '--kubeconfig ~/.kube/config'");
  });
});
