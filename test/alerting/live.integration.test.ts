import { runAlertingScenario, ScenarioResult, writeAlertingResult } from './live-scenario';

// Real Prometheus + Alertmanager + a model-metrics process on 127.0.0.1: errors above the SLO reach the updater's
// webhook as a firing ModelHighErrorRate naming model and version, and the recovery reaches it as resolved.
describe('live alerting (prometheus + alertmanager)', () => {
  let result: ScenarioResult;

  beforeAll(async () => {
    result = await runAlertingScenario();
    writeAlertingResult(result);
  }, 240_000);

  test('the firing alert reaches the updater webhook with the model and version labels and the bearer token', () => {
    const firing = result.notifications.find((n) => n.path === '/webhooks/alertmanager' && n.body.status === 'firing')!;
    expect(firing.authorization).toBe(`Bearer ${result.token}`);
    const alert = firing.body.alerts.find((a) => a.labels.alertname === 'ModelHighErrorRate')!;
    expect(alert.labels).toMatchObject({ model: 'recsys', version: '1.4.0', severity: 'critical', modelpilot_action: 'rollback', namespace: 'ml' });
  });

  test('on-call people get the same alert through the severity route (the updater route continues)', () => {
    const people = result.notifications.filter((n) => n.path === '/oncall');
    expect(people.some((n) => n.body.alerts.some((a) => a.labels.alertname === 'ModelHighErrorRate' && a.status === 'firing'))).toBe(true);
  });

  test('the recovery reaches the updater webhook as a resolved notification', () => {
    const resolved = result.notifications.filter((n) => n.path === '/webhooks/alertmanager' && n.body.status === 'resolved');
    expect(resolved.length).toBeGreaterThan(0);
    expect(resolved[0].body.alerts[0].labels).toMatchObject({ alertname: 'ModelHighErrorRate', model: 'recsys', version: '1.4.0' });
  });

  test('no other alert fired (target up, latency fine)', () => {
    const names = new Set(result.notifications.flatMap((n) => n.body.alerts.map((a) => a.labels.alertname)));
    expect([...names]).toEqual(['ModelHighErrorRate']);
  });
});
