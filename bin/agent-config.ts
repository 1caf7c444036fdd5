/** The agent.yaml as read by the CLI commands that work on the agent's state (agent, quarantine, history). */
import { AgentConfig, ConfigError, loadConfig } from '../agent/config';
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
