/**
 * Loads the agent's configuration (`agent.yaml`, YAML or JSON) from a file. The schema, `parseConfig` and
 * `ConfigError` are the contract's (lib/core/contract/agent-config.ts), shared with the `ModelUpdater` construct.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { AgentConfig, ConfigError, parseConfig } from '../lib/core/contract/agent-config';
import { pseudoFilesystemOf, readInputFile } from './files';
import { loadPrivateKey } from './registry/attestation';
import { loadPublicKeys } from './registry/cosign';
import { loadDockerConfig } from './registry/credentials';

export type {
  AgentConfig, AgentConfigInput, HealthConfig, ImageConfig, ProbeConfig, RollbackConfig,
} from '../lib/core/contract/agent-config';
export { agentConfigSchema, ConfigError, parseConfig } from '../lib/core/contract/agent-config';

/** The largest agent.yaml read (a config of a thousand images is far less). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** Reads and validates an `agent.yaml` (YAML or JSON). */
export function loadConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readInputFile(file, { field: '--config', fix: 'give the agent.yaml (YAML or JSON), e.g. --config /etc/modelpilot/agent.yaml', maxBytes: MAX_CONFIG_BYTES });
  } catch (e) {
    throw new ConfigError(file, [(e as Error).message]);
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => `is not valid YAML: ${e.message.split('\n')[0]}`));
  }
  return parseConfig(relativeToFile(doc.toJS() ?? {}, path.dirname(path.resolve(file))), file);
}

/**
 * The keys of agent.yaml that hold paths on the agent's host. A relative one resolves against the directory of
 * agent.yaml (as compose and kubeconfig files do), not against the working directory the agent happens to start in.
 */
export const CONFIG_PATH_KEYS: ReadonlySet<string> = new Set([
  'socket', 'kubeconfig', 'publicKeyFiles', 'privateKeyFile', 'dockerConfig', 'bearerTokenFile', 'hmacSecretFile', 'tokenFile',
  'auditLog', 'stateDir',
]);

function relativeToFile(node: unknown, dir: string, key?: string): unknown {
  const resolve = (v: unknown) => (typeof v === 'string' && v !== '' && !path.isAbsolute(v) ? path.resolve(dir, v) : v);
  if (key !== undefined && CONFIG_PATH_KEYS.has(key)) return Array.isArray(node) ? node.map(resolve) : resolve(node);
  if (Array.isArray(node)) return node.map((n) => relativeToFile(n, dir));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node as Record<string, unknown>).map(([k, v]) => [k, relativeToFile(v, dir, k)]));
  }
  return node;
}

/** What a path is on disk, or why it cannot be looked at. */
function kindOf(p: string): 'file' | 'directory' | 'socket' | 'other' | 'missing' | `unreadable (${string})` {
  try {
    const st = fs.statSync(p);
    return st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSocket() ? 'socket' : 'other';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : `unreadable (${code ?? (e as Error).message})`;
  }
}

/**
 * Checks what the agent reads and writes at run time, before it starts (and under `--check`): secret files exist
 * and hold something, the docker config and kubeconfig exist, the state directory and the audit log are of the
 * right kind. The Docker socket is not required here: an engine that is down at start is retried every cycle
 * (`--check --connect` asks it). Returns one problem per line, in the `ConfigError` wording; empty when
 * everything is in place. Nothing is created or changed.
 */
export function checkRuntimePaths(config: AgentConfig): string[] {
  const problems: string[] = [];
  /** `is a directory, not a file` or `is unreadable (EACCES)`. */
  const isNot = (kind: ReturnType<typeof kindOf>, expected: string): string => `is ${kind.startsWith('unreadable') ? kind : `a ${kind}, not a ${expected}`}`;
  /**
   * Reads `file` as the agent will (bounded, a regular file, not a device or /proc); a secret must hold something;
   * `load` parses it as the agent does (a PEM key, a docker config.json) and throws its problem.
   */
  const needFile = (key: string, file: string, fix: string, nonEmpty = false, load?: (text: string) => unknown): void => {
    let text: string;
    try {
      text = readInputFile(file, { field: key, fix, maxBytes: MAX_CONFIG_BYTES });
    } catch (e) {
      problems.push((e as Error).message);
      return;
    }
    if (nonEmpty && text.trim() === '') problems.push(`'${key}' value '${file}' is empty; ${fix}`);
    else if (load) {
      try {
        load(text);
      } catch (e) {
        problems.push(`'${key}': ${(e as Error).message}`);
      }
    }
  };
  const publicKey = (name: string) => (pem: string): unknown => loadPublicKeys([{ name, pem }]);
  if (config.webhooks.enabled) {
    if (config.webhooks.bearerTokenFile !== undefined) {
      needFile('webhooks.bearerTokenFile', config.webhooks.bearerTokenFile, 'point it at a file holding the bearer token (mount the Secret there)', true);
    }
    if (config.webhooks.hmacSecretFile !== undefined) {
      needFile('webhooks.hmacSecretFile', config.webhooks.hmacSecretFile, 'point it at a file holding the HMAC secret (mount the Secret there)', true);
    }
  }
  const keyFix = "point it at the PEM public key 'cosign generate-key-pair' wrote (cosign.pub)";
  for (const [i, f] of (config.requireSignature?.publicKeyFiles ?? []).entries()) {
    needFile(`requireSignature.publicKeyFiles[${i}]`, f, keyFix, true, publicKey(f));
  }
  for (const [n, img] of config.images.entries()) {
    for (const [i, f] of (img.requireSignature?.publicKeyFiles ?? []).entries()) {
      needFile(`images[${n}].requireSignature.publicKeyFiles[${i}]`, f, keyFix, true, publicKey(f));
    }
  }
  const trustFix = "point it at the PEM public key of that environment's agent (the public half of its attest.privateKeyFile)";
  for (const [env, t] of Object.entries(config.trustedEnvironments)) {
    for (const [i, f] of t.publicKeyFiles.entries()) needFile(`trustedEnvironments.${env}.publicKeyFiles[${i}]`, f, trustFix, true, publicKey(f));
  }
  if (config.mlflow?.tokenFile !== undefined) {
    needFile('mlflow.tokenFile', config.mlflow.tokenFile, 'point it at a file holding the MLflow token (mount the Secret there)', true);
  }
  if (config.attest) {
    needFile('attest.privateKeyFile', config.attest.privateKeyFile,
      "point it at the PEM private key this agent signs its attestations with (mount the Secret there; 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256' makes one)", true,
      (pem) => loadPrivateKey(config.attest!.privateKeyFile, pem));
  }
  if (config.registries.dockerConfig !== undefined) {
    needFile('registries.dockerConfig', config.registries.dockerConfig, "point it at a docker config.json with an 'auths' map", false,
      () => loadDockerConfig(config.registries.dockerConfig!));
  }
  const k = config.targets.kubernetes;
  if (k && !k.inCluster && k.kubeconfig !== undefined) {
    needFile('targets.kubernetes.kubeconfig', k.kubeconfig, 'give the path of a kubeconfig file, or remove it to use the in-cluster service account');
  }
  for (const [key, p] of [['stateDir', config.stateDir], ['auditLog', config.auditLog]] as const) {
    const pseudo = pseudoFilesystemOf(p);
    if (pseudo) problems.push(`'${key}' value '${p}' is on ${pseudo} (a kernel interface), where nothing can be kept; give a path on a disk or volume such as '/var/lib/modelpilot'`);
  }
  const stateKind = kindOf(config.stateDir);
  if (stateKind !== 'directory' && stateKind !== 'missing') {
    problems.push(`'stateDir' value '${config.stateDir}' ${isNot(stateKind, 'directory')}; give a directory (it is created when missing)`);
  }
  const auditKind = kindOf(config.auditLog);
  if (auditKind !== 'file' && auditKind !== 'missing') {
    problems.push(`'auditLog' value '${config.auditLog}' ${isNot(auditKind, 'file')}; give a file path such as '${config.stateDir}/audit.jsonl'`);
  } else if (auditKind === 'missing') {
    const dir = path.dirname(config.auditLog);
    const dirKind = kindOf(dir);
    if (dirKind !== 'directory' && !(dirKind === 'missing' && dir === config.stateDir)) {
      problems.push(`'auditLog' value '${config.auditLog}' is in '${dir}', which is ${dirKind === 'missing' ? 'missing' : `a ${dirKind}`}; create that directory or put the log under stateDir`);
    }
  }
  return problems;
}
