/**
 * The API server's rules that the schemas miss: each bad manifest is refused with the exact message and its
 * nearest-valid twin is accepted. The cluster tier (test/cluster/api-server-agrees.cluster.test.ts) applies the same
 * table to a real API server.
 */
import { formatIssue, validateManifest, validateManifests } from '../../lib';
import { parseQuantity, qualifiedKeyProblem } from '../../lib/validation/api-rules';
import { API_SERVER_CASES } from '../fixtures/api-server-cases';

describe('validation agrees with the API server', () => {
  test.each(API_SERVER_CASES.map((c) => [c.name, c] as const))('throws if %s (and accepts its twin)', (_name, c) => {
    expect(validateManifest(c.bad).map(formatIssue)).toEqual(c.issues);
    expect(validateManifest(c.twin).map(formatIssue)).toEqual([]);
  });

  test('an AlertmanagerConfig route with a zero repeatInterval or a label name with a dash is refused as amtool refuses it', () => {
    const amc = (route: Record<string, unknown>) => ({
      apiVersion: 'monitoring.coreos.com/v1alpha1', kind: 'AlertmanagerConfig', metadata: { name: 'routes', namespace: 'ml' },
      spec: { route: { receiver: 'ops', ...route }, receivers: [{ name: 'ops' }] },
    });
    expect(validateManifest(amc({ repeatInterval: '0s', groupBy: ['model-name'], routes: [{ receiver: 'ops', groupInterval: '0m' }] })).map(formatIssue)).toEqual([
      "AlertmanagerConfig ml/routes: $.spec.route.repeatInterval: '0s' is zero; Alertmanager refuses it (repeat_interval cannot be zero); give for example '4h'",
      'AlertmanagerConfig ml/routes: $.spec.route.groupBy[0]: "model-name" is not a label name; Alertmanager takes letters, digits and \'_\' (not starting with a digit), e.g. \'model_name\', or \'...\'',
      "AlertmanagerConfig ml/routes: $.spec.route.routes[0].groupInterval: '0m' is zero; Alertmanager refuses it (group_interval cannot be zero); give for example '5m'",
    ]);
    expect(validateManifest(amc({ repeatInterval: 'soon' })).map(formatIssue)).toEqual([
      "AlertmanagerConfig ml/routes: $.spec.route.repeatInterval: \"soon\" is not a duration; write it like '30s', '5m' or '4h'",
    ]);
    expect(validateManifest(amc({ repeatInterval: '4h', groupWait: '0s', groupBy: ['model_name', '...'] }))).toEqual([]);
  });

  test('two objects with the same kind, namespace and name in one stream are both named', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'ml' } };
    expect(validateManifests([cm, cm]).issues.map(formatIssue)).toEqual(['ConfigMap ml/a: $: is defined twice (objects 1 and 2); names must be unique per kind and namespace']);
  });

  test.each([
    ['500m', 0.5], ['2', 2], ['1Gi', 2 ** 30], ['512Mi', 512 * 2 ** 20], ['1e3', 1000], ['1.5', 1.5], ['-100m', -0.1], ['100k', 1e5],
  ])('reads the quantity %s as %d', (q, v) => {
    expect(parseQuantity(q)).toBeCloseTo(v as number, 9);
  });

  test.each(['1 GB', '1gi', '', 'Gi', '1.2.3', '--1'])('refuses %j as a quantity', (q) => {
    expect(parseQuantity(q)).toBeUndefined();
  });

  test.each([
    ['example.com/team', undefined], ['team', undefined], ['a.b_c-d', undefined],
    ['/team', "its prefix '' must be a lowercase DNS subdomain such as 'example.com'"],
    ['example.com/', "its name must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"],
    [`${'a'.repeat(64)}`, "its name must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"],
  ])('qualified key %j', (key, problem) => {
    expect(qualifiedKeyProblem(key)).toBe(problem);
  });
});
