/**
 * Loads the agent's configuration (`agent.yaml`, YAML or JSON) from a file. The schema, `parseConfig` and
 * `ConfigError` are the contract's (lib/core/contract/agent-config.ts), shared with the `ModelUpdater` construct.
 */
import * as fs from 'fs';
import * as YAML from 'yaml';
import { AgentConfig, ConfigError, parseConfig } from '../lib/core/contract/agent-config';

export type {
  AgentConfig, AgentConfigInput, HealthConfig, ImageConfig, ProbeConfig, RollbackConfig,
} from '../lib/core/contract/agent-config';
export { agentConfigSchema, ConfigError, parseConfig } from '../lib/core/contract/agent-config';

/** Reads and validates an `agent.yaml` (YAML or JSON). */
export function loadConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the --config path`]);
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `is not valid YAML: ${e.message.split('\n')[0]}`));
  }
  return parseConfig(doc.toJS() ?? {}, file);
}

