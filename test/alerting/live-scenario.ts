/**
 * The live alerting scenario shared by the integration test and bench/alerting.bench.ts: two reference model
 * servers (examples/model-server) — the good version 1.4.0 and a bad 1.5.0 started with MODEL_FAULT_ERROR_RATIO=0.5 —
 * a real Prometheus loaded with the synthesized PrometheusRule groups, a real Alertmanager loaded with the
 * synthesized alertmanager.yml (secrets as files in a temp dir), and a webhook receiver on 127.0.0.1 standing in for
 * the updater (bearer token checked) and for people. Onset: the bad version starts taking half the traffic. Recovery
 * (what a rollback does): traffic goes back to the good version only.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { Duration, Testing } from 'cdk8s';
import { AlertRouting, Receiver } from '../../lib';
import { ModelAlerts, Severity } from '../../lib';
import { toPromDuration } from '../../lib/core/duration';
import { Slo } from '../../lib/core/slo';
import { startAlertmanager, startPrometheus, TestPrometheus, TestServer } from '../support/prometheus';
import { freePort, sleep, stopChild, waitFor, WaitAbort } from '../support/tools';

/** One webhook POST as received. */
export interface Notification {
  readonly path: string;
  readonly authorization?: string;
  readonly at: number;
  readonly body: { status: string; alerts: Array<{ status: string; labels: Record<string, string> }> };
}

export interface ScenarioResult {
  readonly model: string;
  /** The version that erred (and must be named by the alert). */
  readonly version: string;
  /** The version that stayed healthy (and must never be named). */
  readonly goodVersion: string;
  readonly token: string;
  /** Seconds from the fault (errors on) to the firing ModelHighErrorRate reaching the updater webhook. */
  readonly timeToFireSeconds: number;
  /** Seconds from recovery (errors off) to the resolved notification reaching the updater webhook. */
  readonly timeToResolveSeconds: number;
  readonly notifications: readonly Notification[];
  readonly settings: Record<string, string | number>;
}

const MODEL = 'recsys';
const GOOD = '1.4.0';
const BAD = '1.5.0';
const NAMESPACE = 'ml';
const SCRAPE = Duration.seconds(1);
const EVAL = Duration.seconds(1);
const FAULT_ERROR_RATIO = 0.5;
const REQUESTS_PER_SECOND = 40;
const REPO = path.join(__dirname, '..', '..');
const MODEL_SERVER = path.join(REPO, 'examples', 'model-server', 'src', 'main.ts');
const PREDICT_BODY = JSON.stringify({ features: { tenure_months: 12, monthly_charges: 50, support_calls_90d: 1, month_to_month: true } });

export async function runAlertingScenario(): Promise<ScenarioResult> {
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    // The webhook receiver (the updater's /webhooks/alertmanager and a people channel).
    const notifications: Notification[] = [];
    const hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        try {
          notifications.push({ path: req.url ?? '', authorization: req.headers.authorization, at: Date.now(), body: JSON.parse(body) });
        } catch {
          // not JSON: ignore
        }
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => hook.close(() => resolve())));
    const hookPort = (hook.address() as { port: number }).port;

    // Secrets as files, where the native config expects them.
    const secretsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-am-secrets-'));
    cleanups.push(() => fs.rmSync(secretsDir, { recursive: true, force: true }));
    const token = `t-${process.pid}-${Date.now()}`;
    fs.mkdirSync(path.join(secretsDir, 'modelpilot-updater-webhook'));
    fs.writeFileSync(path.join(secretsDir, 'modelpilot-updater-webhook', 'token'), token, { mode: 0o600 });

    // The synthesized objects.
    const chart = Testing.chart();
    const slo = new Slo({ window: Duration.minutes(1) });
    const alerts = new ModelAlerts(chart, 'Alerts', {
      model: {
        modelName: MODEL, namespace: NAMESPACE, selectorLabels: { 'app.kubernetes.io/name': MODEL }, deploymentName: MODEL,
        containerName: 'model', metricsPortName: 'http', metricsPath: '/metrics',
      },
      slo, scrapeInterval: SCRAPE, evaluationInterval: EVAL, sustainFor: Duration.seconds(2),
    });
    new AlertRouting(chart, 'Routing', {
      namespace: NAMESPACE,
      defaultReceiver: Receiver.webhook({ name: 'people', url: `http://127.0.0.1:${hookPort}/people` }),
      routes: [{ severity: Severity.CRITICAL, receiver: Receiver.webhook({ name: 'oncall', url: `http://127.0.0.1:${hookPort}/oncall` }) }],
      updater: { url: `http://127.0.0.1:${hookPort}/webhooks/alertmanager`, groupWait: Duration.seconds(1), groupInterval: Duration.seconds(1) },
      groupWait: Duration.seconds(1), groupInterval: Duration.seconds(1), repeatInterval: Duration.hours(1),
      secretsMountPath: secretsDir,
    });
    // Prometheus and Alertmanager get exactly what was synthesized: the PrometheusRule's groups, the Secret's alertmanager.yaml.
    const synthesized = Testing.synth(chart);
    const amSecret = synthesized.find((o) => o.kind === 'Secret');
    const ruleGroups = synthesized.find((o) => o.kind === 'PrometheusRule').spec.groups;

    // The reference model servers: the good version and the bad one.
    const startServer = async (version: string, faults: Record<string, string>) => {
      const port = await freePort();
      const proc: ChildProcess = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', MODEL_SERVER], {
        cwd: REPO, stdio: 'ignore',
        env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', MODEL_NAME: MODEL, MODEL_VERSION: version, ...faults },
      });
      cleanups.push(() => stopChild(proc));
      const url = `http://127.0.0.1:${port}`;
      await waitFor(async () => {
        if (proc.exitCode !== null) throw new WaitAbort(`model server ${version} exited with code ${proc.exitCode}`);
        return (await fetch(`${url}/health/ready`)).ok;
      }, { what: `model server ${version} ready`, timeoutMs: 60_000, intervalMs: 200 });
      return { port, url };
    };
    const [good, bad] = await Promise.all([startServer(GOOD, {}), startServer(BAD, { MODEL_FAULT_ERROR_RATIO: String(FAULT_ERROR_RATIO) })]);

    const am: TestServer = await startAlertmanager({ config: amSecret.stringData['alertmanager.yaml'] });
    cleanups.push(() => am.stop());
    const prom: TestPrometheus = await startPrometheus({
      scrapeInterval: toPromDuration(SCRAPE), evaluationInterval: toPromDuration(EVAL), ruleGroups, alertmanagerUrl: am.url,
      scrapeConfigs: [{
        job_name: MODEL, honor_labels: true,
        // What the ServiceMonitor's relabelings give every target in a cluster: model, version (pod label), namespace.
        static_configs: [
          { targets: [`127.0.0.1:${good.port}`], labels: { model: MODEL, version: GOOD, namespace: NAMESPACE } },
          { targets: [`127.0.0.1:${bad.port}`], labels: { model: MODEL, version: BAD, namespace: NAMESPACE } },
        ],
      }],
    });
    cleanups.push(() => prom.stop());

    // Bounded load: REQUESTS_PER_SECOND, at most 10 minutes, stopped in cleanup. `badShare` of it goes to the bad version.
    let loading = true;
    let badShare = 0;
    let sent = 0;
    const loadDeadline = Date.now() + 10 * 60_000;
    const predict = (url: string) => fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: PREDICT_BODY })
      .then((r) => r.text()).catch(() => '');
    const load = (async () => {
      while (loading && Date.now() < loadDeadline) {
        await Promise.all(Array.from({ length: REQUESTS_PER_SECOND / 10 }, () => {
          sent += 1;
          return predict(sent % 2 === 0 && badShare > 0 ? bad.url : good.url);
        }));
        await sleep(100);
      }
    })();
    cleanups.push(async () => { loading = false; await load; });

    // Healthy first: the target is up and the request rate is known.
    await waitFor(async () => (await prom.query(`(${slo.metricRequestRate({ model: MODEL })}) > 1`)).length > 0,
      { what: 'a request rate above 1/s in Prometheus', timeoutMs: 60_000, intervalMs: 500, diagnostics: () => prom.log() });

    const isAlert = (n: Notification, status: string) => n.path === '/webhooks/alertmanager'
      && n.body.alerts.some((a) => a.labels.alertname === 'ModelHighErrorRate' && a.status === status);

    // Onset: the bad version takes half of the traffic.
    badShare = 0.5;
    const faultAt = Date.now();
    await waitFor(() => notifications.some((n) => isAlert(n, 'firing')),
      { what: 'the firing ModelHighErrorRate at the updater webhook', timeoutMs: 90_000, intervalMs: 100, diagnostics: () => am.log() });
    const firedAt = notifications.find((n) => isAlert(n, 'firing'))!.at;

    // Recovery, as a rollback does it: all traffic back to the good version.
    badShare = 0;
    const recoveredAt = Date.now();
    await waitFor(() => notifications.some((n) => n.at > recoveredAt && isAlert(n, 'resolved')),
      { what: 'the resolved ModelHighErrorRate at the updater webhook', timeoutMs: 120_000, intervalMs: 100, diagnostics: () => am.log() });
    const resolvedAt = notifications.find((n) => n.at > recoveredAt && isAlert(n, 'resolved'))!.at;

    return {
      model: MODEL, version: BAD, goodVersion: GOOD, token,
      timeToFireSeconds: (firedAt - faultAt) / 1000,
      timeToResolveSeconds: (resolvedAt - recoveredAt) / 1000,
      notifications,
      settings: {
        scrapeInterval: toPromDuration(SCRAPE), evaluationInterval: toPromDuration(EVAL), sloWindow: slo.promWindow,
        maxErrorRatio: slo.maxErrorRatio, alertFor: alerts.rule('ModelHighErrorRate').for ?? '0s',
        groupWait: '1s', groupInterval: '1s', prometheusResendDelay: '1s',
        faultErrorRatio: FAULT_ERROR_RATIO, badVersionTrafficShare: 0.5, requestsPerSecond: REQUESTS_PER_SECOND,
        modelServer: 'examples/model-server (ts-node)',
      },
    };
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // keep cleaning up
      }
    }
  }
}

/** Writes the measured timings to bench/results/alerting.json. */
export function writeAlertingResult(r: ScenarioResult): string {
  const file = path.join(__dirname, '..', '..', 'bench', 'results', 'alerting.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({
    benchmark: 'alerting',
    description: 'error onset -> firing ModelHighErrorRate at the updater webhook; recovery -> resolved notification (real Prometheus + Alertmanager)',
    timeToFireSeconds: r.timeToFireSeconds,
    timeToResolveSeconds: r.timeToResolveSeconds,
    settings: r.settings,
    prometheus: 'debian prometheus', alertmanager: 'debian prometheus-alertmanager',
    measuredAt: new Date().toISOString(),
  }, null, 2) + '\n');
  return file;
}
