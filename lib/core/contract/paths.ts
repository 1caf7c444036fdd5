/** Where the agent's config, secrets and state live (in its container, and the agent's defaults). */
export const AGENT_PATHS = {
  /** Directory of `agent.yaml`. */
  config: '/etc/modelpilot',
  /** Webhook credentials (`token`, `hmac`). */
  webhook: '/var/run/secrets/modelpilot/webhook',
  /** Registry credentials (a docker `config.json`). */
  registry: '/var/run/secrets/modelpilot/registry',
  /** Public keys of `requireSignature` (`cosign.pub`). */
  signing: '/var/run/secrets/modelpilot/signing',
  /** The private key the agent signs its attestations with (`attest.key`). */
  attest: '/var/run/secrets/modelpilot/attest',
  /** Public keys of the environments `requireVerifiedIn` names (`<environment>.pub`). */
  trust: '/var/run/secrets/modelpilot/trust',
  /** The MLflow token (`token`). */
  mlflow: '/var/run/secrets/modelpilot/mlflow',
  /** Golden sets of the quality gates (`<file>.jsonl`). */
  golden: '/etc/modelpilot/golden',
  /** Persistent state: quarantine store, audit log. */
  state: '/var/lib/modelpilot',
} as const;

/** The agent's default state directory. */
export const DEFAULT_STATE_DIR = AGENT_PATHS.state;
/** HAProxy's server-state file in the single-host bundle: in the agent's state volume, which the proxy mounts read-only. */
export const PROXY_STATE_FILE = `${AGENT_PATHS.state}/haproxy-server-state`;
/** The audit log's file name inside the state directory. */
export const AUDIT_LOG_FILE = 'audit.jsonl';
