/**
 * `modelpilot agent --check --connect`: beyond validating the config, ask what the agent will talk to.
 * - the agent's own registry client lists each configured image's tags;
 * - on the Docker target, the ENGINE is asked to pull a tag that does not exist from each registry: an answer from
 *   the registry ("manifest unknown", "not found") means the engine reaches and trusts it; "server gave HTTP
 *   response to HTTPS client" or a certificate error means the engine does not trust it, and every real pull of an
 *   update would fail there (the agent's `registries.insecure` covers only its own client). Nothing is pulled.
 * Prints one line per check; the result is false when any check failed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AgentConfig } from '../lib/core/contract/agent-config';
import { ImageRef } from '../lib/core/image-ref';
import { DistributionClient, loadDockerConfig } from './registry';
import { ConnectContext, configuredTargets } from './targets';

export interface ConnectReport {
  readonly ok: boolean;
  readonly lines: string[];
}

export async function connectCheck(config: AgentConfig, timeoutMs = 20_000): Promise<ConnectReport> {
  const lines: string[] = [];
  let ok = true;
  const say = (good: boolean, text: string): void => {
    if (!good) ok = false;
    lines.push(`${good ? 'ok  ' : 'FAIL'} ${text}`);
  };
  const client = new DistributionClient({
    credentials: config.registries.dockerConfig ? loadDockerConfig(config.registries.dockerConfig) : undefined,
    insecureRegistries: config.registries.insecure, mirrors: config.registries.mirrors, maxRetries: 0, requestTimeoutMs: timeoutMs,
  });
  const hosts = new Set<string>();
  for (const image of config.images) {
    const ref = ImageRef.tryParse(`${image.repository}:probe`, { allowMutableTag: true });
    if (!ref) continue;
    hosts.add(ref.registry);
    try {
      const tags = await client.listTags({ registry: ref.registry, repository: ref.repository }, AbortSignal.timeout(timeoutMs));
      say(true, `agent -> registry ${client.describeHost(ref.registry)}: ${ref.repository} lists ${tags.length} tag(s)`);
    } catch (e) {
      say(false, `agent -> registry ${client.describeHost(ref.registry)}: ${ref.repository}: ${(e as Error).message}`);
    }
  }
  // The state directory: the agent's user must be able to write its decisions there before it acts on them.
  const probe = path.join(config.stateDir, `.modelpilot-connect-check.${process.pid}`);
  try {
    fs.mkdirSync(config.stateDir, { recursive: true });
    fs.writeFileSync(probe, 'probe\n');
    fs.rmSync(probe, { force: true });
    say(true, `state directory ${config.stateDir} is writable by uid ${process.getuid?.() ?? '?'}`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    say(false, `state directory ${config.stateDir} is not writable by uid ${process.getuid?.() ?? '?'} (${code}); decisions could not be persisted: `
      + 'give the agent\'s user ownership of it (chown, or the volume\'s fsGroup) or point stateDir at a writable volume');
  }
  const ctx: ConnectContext = { timeoutMs, registryHosts: [...hosts], say, note: (text) => lines.push(`note ${text}`) };
  for (const { plugin, section } of configuredTargets(config)) await plugin.connect(section, config, ctx);
  return { ok, lines };
}
