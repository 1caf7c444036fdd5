/**
 * `modelpilot agent --config agent.yaml`: runs the updater agent until SIGTERM/SIGINT, then finishes or safely
 * reverses the step in progress and exits 0. Exit 2: the config is invalid (every problem is printed).
 */
import { checkRuntimePaths, ConfigError } from '../../agent/config';
import { startAgent } from '../../agent/main';
import { loadAgentConfig } from '../agent-config';
import { parseCommandArgs } from '../args';

const USAGE = `usage: modelpilot agent --config <agent.yaml> [--kubeconfig <file>] [--check [--connect]] [--run-once]

Runs the updater agent: watches registries, rolls out new model versions, verifies them (readiness, then the
SLO bake window on Prometheus), rolls back and quarantines bad ones. Logs are JSON lines on stdout.

options:
  --config <file>  the agent config (see docs/agent.md)           [default: agent.yaml]
  --kubeconfig <file>
                   run the Kubernetes target against this kubeconfig's current context (e.g. from a laptop)
                   instead of the in-cluster service account; overrides targets.kubernetes.kubeconfig
  --check          validate the config and the files, socket and directories it names, then exit (0 valid, 2 invalid)
  --connect        with --check: also list each image's tags with the agent's registry client and ask the Docker
                   engine whether it reaches and trusts each registry (exit 1 when a check fails)
  --run-once       one cycle over every workload, a one-line JSON summary, then exit (0 without failures, 1 with);
                   as Watchtower's --run-once and agent.yaml's runOnce: true
`;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, {
    config: { type: 'string', short: 'c', needs: "a file, e.g. '--config agent.yaml'" },
    kubeconfig: { type: 'string', needs: "a file, e.g. '--kubeconfig ~/.kube/config'" },
    check: { type: 'boolean' },
    connect: { type: 'boolean' },
    'run-once': { type: 'boolean' },
  });
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { config: file = 'agent.yaml', kubeconfig, check, connect, 'run-once': runOnce } = args.values;
  if (connect && !check) return usageError("'--connect' works only with '--check'; run 'modelpilot agent --config <file> --check --connect'");
  let config = loadAgentConfig('agent', file);
  if (!config) return 2;
  if (kubeconfig !== undefined) {
    if (!config.targets.kubernetes) {
      return usageError(`'--kubeconfig' value '${kubeconfig}' has no effect: ${file} has no 'targets.kubernetes' section; add 'kubernetes: { namespace: ... }' under targets`);
    }
    config = { ...config, targets: { ...config.targets, kubernetes: { ...config.targets.kubernetes, kubeconfig, inCluster: false } } };
  }
  // What the agent reads and writes at run time, checked the same way by --check and before a start.
  const problems = checkRuntimePaths(config);
  if (problems.length > 0) {
    process.stderr.write(`modelpilot agent: ${new ConfigError(file, problems).message}\n`);
    return 2;
  }
  if (check) {
    process.stdout.write(`${file} is valid\n`);
    if (!connect) return 0;
    const { connectCheck } = await import('../../agent/connect-check');
    const report = await connectCheck(config);
    for (const line of report.lines) process.stdout.write(`${line}\n`);
    return report.ok ? 0 : 1;
  }
  if (runOnce) config = { ...config, runOnce: true };
  let agent: Awaited<ReturnType<typeof startAgent>>;
  try {
    agent = await startAgent(config);
  } catch (e) {
    // a start-up failure (port taken, API unreachable) is one line naming what failed, not a stack trace
    process.stderr.write(`modelpilot agent: cannot start: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  if (agent.once) {
    // Watchtower's --run-once: one cycle, a one-line summary, exit 0 when it had no failures
    const report = await agent.once;
    await agent.stop();
    process.stdout.write(`${JSON.stringify({ runOnce: true, workloads: report.workloads, updates: report.updates, failures: report.failures })}\n`);
    return report.failures.length === 0 ? 0 : 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'shutting down', signal }) + '\n');
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve();
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  await agent.stop();
  return 0;
}

function usageError(msg: string): number {
  process.stderr.write(`modelpilot agent: ${msg}\n\n${USAGE}`);
  return 2;
}
