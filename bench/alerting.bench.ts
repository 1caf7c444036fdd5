/**
 * Alerting latency: error onset -> firing ModelHighErrorRate at the updater webhook, and recovery -> resolved
 * notification, through a real Prometheus and Alertmanager (1s scrape/evaluation, 1m SLO window). Writes
 * bench/results/alerting.json. Needs the Debian tools (scripts/install-test-tools.sh).
 */
import { runAlertingScenario, writeAlertingResult } from '../test/alerting/live-scenario';

runAlertingScenario().then((r) => {
  const file = writeAlertingResult(r);
  process.stdout.write(`time to fire ${r.timeToFireSeconds}s, time to resolve ${r.timeToResolveSeconds}s -> ${file}\n`);
}, (err: unknown) => {
  process.stderr.write(`alerting bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
