/**
 * The real API server agrees with modelpilot's validation: every manifest the corpus refuses
 * (test/fixtures/api-server-cases.ts) is refused by kube-apiserver too, and every nearest-valid twin that
 * modelpilot accepts is accepted (`kubectl apply --dry-run=server --validate=strict`, so nothing is stored).
 */
import * as YAML from 'yaml';
import { API_SERVER_CASES, API_SERVER_CASES_NAMESPACE } from '../fixtures/api-server-cases';
import { startCluster, TestCluster } from '../support/cluster';

jest.setTimeout(300_000);

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster({ nodes: 1 });
  cluster.kubectl(['create', 'namespace', API_SERVER_CASES_NAMESPACE]);
});

afterAll(async () => {
  await cluster?.stop();
});

const dryRun = (obj: Record<string, unknown>) => cluster.kubectlResult(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], YAML.stringify(obj));

describe('kube-apiserver agrees with validateManifest', () => {
  const refused = (r: { status: number; stderr: string }) => ({ status: r.status === 0 ? 'accepted' : 'refused', stderr: r.stderr.slice(0, 300) });
  const REFUSED = { status: 'refused', stderr: expect.stringMatching(/invalid|Invalid|must|error/) };

  test.each(API_SERVER_CASES.filter((c) => !c.apiServerAccepts).map((c) => [c.name, c] as const))('%s: refused by both; the twin accepted by both', (_name, c) => {
    expect(refused(dryRun(c.bad))).toEqual(REFUSED);
    const twin = dryRun(c.twin);
    expect({ status: twin.status, stderr: twin.stderr }).toEqual({ status: 0, stderr: '' });
  });

  // Where modelpilot is stricter on purpose: the API server takes the object, and (where given) refuses the object
  // the reference would need, so the stricter rule only stops a workload that could never run.
  test.each(API_SERVER_CASES.filter((c) => c.apiServerAccepts).map((c) => [c.name, c] as const))('%s: stricter than the API server, on purpose', (_name, c) => {
    expect(dryRun(c.bad).status).toBe(0);
    expect(c.proof ? refused(dryRun(c.proof)) : REFUSED).toEqual(REFUSED);
    expect(dryRun(c.twin).status).toBe(0);
  });
});
