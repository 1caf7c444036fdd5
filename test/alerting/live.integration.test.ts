import { runAlertingScenario, ScenarioResult } from './live-scenario';

// Real Prometheus + Alertmanager + two reference model servers on 127.0.0.1: when a bad version (50 % errors) takes
// traffic, the updater's webhook gets a firing ModelHighErrorRate naming the model and the bad version; when traffic
// goes back to the good version, it gets the resolved notification.
describe('live alerting (prometheus + alertmanager)', () => {
  let result: ScenarioResult;

  beforeAll(async () => {
    result = await runAlertingScenario();
    // Timings are recorded by `npm run bench -- alerting` (bench/results/alerting.json); a test only reports them.
    process.stdout.write(`alerting: fired after ${result.timeToFireSeconds}s, resolved after ${result.timeToResolveSeconds}s\n`);
  }, 240_000);

  test('the firing alert reaches the updater webhook with the model and version labels and the bearer token', () => {
    const firing = result.notifications.find((n) => n.path === '/webhooks/alertmanager' && n.body.status === 'firing')!;
    expect(firing.authorization).toBe(`Bearer ${result.token}`);
    const alert = firing.body.alerts.find((a) => a.labels.alertname === 'ModelHighErrorRate')!;
    expect(alert.labels).toMatchObject({ model: 'recsys', version: result.version, severity: 'critical', modelpilot_action: 'rollback', namespace: 'ml' });
  });

  test('on-call people get the same alert through the severity route (the updater route continues)', () => {
    const people = result.notifications.filter((n) => n.path === '/oncall');
    expect(people.some((n) => n.body.alerts.some((a) => a.labels.alertname === 'ModelHighErrorRate' && a.status === 'firing'))).toBe(true);
  });

  test('the recovery reaches the updater webhook as a resolved notification', () => {
    const resolved = result.notifications.filter((n) => n.path === '/webhooks/alertmanager' && n.body.status === 'resolved');
    expect(resolved.length).toBeGreaterThan(0);
    expect(resolved[0].body.alerts[0].labels).toMatchObject({ alertname: 'ModelHighErrorRate', model: 'recsys', version: result.version });
  });

  test('the good version, serving alongside, is never named', () => {
    const versions = new Set(result.notifications.flatMap((n) => n.body.alerts.map((a) => a.labels.version)));
    expect([...versions]).toEqual([result.version]);
    expect(result.goodVersion).not.toBe(result.version);
  });

  test('no other alert fired (targets up, latency fine)', () => {
    const names = new Set(result.notifications.flatMap((n) => n.body.alerts.map((a) => a.labels.alertname)));
    expect([...names]).toEqual(['ModelHighErrorRate']);
  });
});
