/** The model's pure renderers and prop checks, without a chart. */
import { Size } from 'cdk8s';
import { Duration, ModelCache } from '../../lib';
import { httpProbe, renderEnv, renderVolumes, resolveDrain, resolveProbes } from '../../lib/model/render';

describe('resolveProbes', () => {
  test('defaults: liveness /health/live every 10 s, readiness every 5 s, startup covers the 2 m load in 12 probes', () => {
    const p = resolveProbes({});
    expect([p.liveness.path, p.liveness.periodSeconds, p.readiness.periodSeconds]).toEqual(['/health/live', 10, 5]);
    expect([p.startupFailures, p.startupBudgetSeconds]).toEqual([12, 120]);
    expect(httpProbe(p.startup, 'http', p.startupFailures)).toEqual({
      httpGet: { path: '/health/ready', port: 'http' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 12,
    });
  });

  test('a load time that is not a multiple of the period rounds the budget up', () => {
    const p = resolveProbes({ startup: { period: Duration.seconds(4) }, modelLoadTimeout: Duration.seconds(10) });
    expect([p.startupFailures, p.startupBudgetSeconds]).toEqual([3, 12]);
  });

  test('throws if a timeout is longer than its period', () => {
    expect(() => resolveProbes({ readiness: { period: Duration.seconds(1), timeout: Duration.seconds(3) } })).toThrow(new Error(
      "'readiness.timeout' value '3s' is longer than 'readiness.period' '1s'; make the timeout at most the period"));
  });
});

describe('resolveDrain', () => {
  test('the grace period defaults to the drain plus 30 s', () => {
    expect(resolveDrain(undefined, undefined)).toEqual({ drainS: 10, graceS: 40 });
    expect(resolveDrain(Duration.millis(1500), Duration.seconds(5))).toEqual({ drainS: 2, graceS: 5 });
  });
  test('throws if the grace period does not outlast the drain', () => {
    expect(() => resolveDrain(Duration.seconds(20), Duration.seconds(20))).toThrow(new Error(
      "'drain' value '20s' is not shorter than 'terminationGracePeriod' '20s', so the server would be killed before it stops; make terminationGracePeriod longer than the drain (e.g. 50s)"));
  });
});

describe('renderEnv / renderVolumes', () => {
  const builtins = [{ name: 'MODEL_VERSION', value: '1.0.0' }];
  test("the built-ins first, then the user's, a Secret key as valueFrom", () => {
    expect(renderEnv([{ name: 'A', value: '1' }, { name: 'B', secretKeyRef: { name: 's', key: 'k' } }], builtins)).toEqual([
      { name: 'MODEL_VERSION', value: '1.0.0' }, { name: 'A', value: '1' }, { name: 'B', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
    ]);
  });
  test.each([
    [[{ name: 'PORT', value: '1' }], "'env' name 'PORT' is set by modelpilot from the props; remove it (use 'port' for PORT, the image tag for MODEL_VERSION)"],
    [[{ name: 'A', value: '1' }, { name: 'A', value: '2' }], "'env' name 'A' is given twice; each variable may appear once"],
    [[{ name: '1A', value: '1' }], "'env' name '1A' is not a valid variable name; use letters, digits and '_', not starting with a digit"],
    [[{ name: 'A' }], "'env' variable 'A' needs exactly one of 'value' or 'secretKeyRef'"],
  ])('throws if env is %j', (env, message) => {
    expect(() => renderEnv(env, builtins)).toThrow(new Error(message));
  });
  test('a writable /tmp always; the model cache mounted where asked', () => {
    expect(renderVolumes(undefined).mounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    const { volumes, mounts } = renderVolumes(ModelCache.emptyDir(Size.gibibytes(10), { mountPath: '/weights' }));
    expect(volumes[1]).toEqual({ name: 'model-cache', emptyDir: { sizeLimit: '10Gi' } });
    expect(mounts[1]).toEqual({ name: 'model-cache', mountPath: '/weights' });
  });
});
