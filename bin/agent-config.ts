/** The agent.yaml as read by the CLI commands that work on the agent's state (agent, quarantine, history). */
import * as fs from 'fs';
import * as path from 'path';
import { AgentConfig, ConfigError, loadConfig } from '../agent/config';
import { pseudoFilesystemOf } from '../agent/files';
import { DEFAULT_STATE_DIR } from '../lib/core/contract/paths';

/** The agent's state directory when neither `--state-dir` nor `--config` names one (agent.yaml's `stateDir` default). */
export { DEFAULT_STATE_DIR };

/**
 * Loads and validates an agent.yaml for `modelpilot <command>`. An invalid or unreadable config is printed (every
 * problem) and gives `undefined`: the command then exits 2.
 */
export function loadAgentConfig(command: string, file: string): AgentConfig | undefined {
  try {
    return loadConfig(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`modelpilot ${command}: ${e.message}\n`);
    return undefined;
  }
}

/**
 * The state directory and audit log a state command works on: `--state-dir`, else `--config agent.yaml`'s
 * `stateDir`, else the default. Prints why and gives an exit code when it cannot (2: bad config, 1: no directory).
 */
export function resolveState(command: string, values: { 'state-dir'?: string; config?: string }): { stateDir: string; auditFile: string } | number {
  let stateDir = values['state-dir'];
  let auditFile: string | undefined;
  if (!stateDir && values.config) {
    const c = loadAgentConfig(command, values.config);
    if (!c) return 2;
    ({ stateDir, auditLog: auditFile } = c);
  }
  stateDir ??= DEFAULT_STATE_DIR;
  const pseudo = pseudoFilesystemOf(stateDir);
  if (pseudo) {
    process.stderr.write(`modelpilot ${command}: state directory '${stateDir}' is on ${pseudo} (a kernel interface), where no state is kept; `
      + "give the agent's stateDir with --state-dir <dir> or --config <agent.yaml>\n");
    return 1;
  }
  const stat = fs.statSync(stateDir, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) {
    process.stderr.write(`modelpilot ${command}: state directory '${stateDir}' ${stat ? 'is not a directory' : 'does not exist'}; `
      + "give the agent's stateDir with --state-dir <dir> or --config <agent.yaml>\n");
    return 1;
  }
  return { stateDir, auditFile: auditFile ?? path.join(stateDir, 'audit.jsonl') };
}
