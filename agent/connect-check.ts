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
import { unreachableFix } from './loop/reconciler';
import { DistributionClient, loadDockerConfig } from './registry';
import { trustHint } from './targets/docker';
import { loadDockerode } from './targets/dockerode';

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
  const d = config.targets.docker;
  if (d) {
    let Docker: ReturnType<typeof loadDockerode>;
    try {
      Docker = loadDockerode();
    } catch (e) {
      say(false, `the Docker client library: ${(e as Error).message}`);
      return { ok, lines };
    }
    const docker = new Docker({ socketPath: d.socket });
    try {
      await docker.ping();
      say(true, `engine at ${d.socket} answers`);
    } catch (e) {
      say(false, `engine at ${d.socket}: ${(e as Error).message}${unreachableFix('docker', `${(e as Error).message}`)}`);
      return { ok, lines };
    }
    for (const image of config.images) {
      const ref = ImageRef.tryParse(`${image.repository}:modelpilot-connect-check`, { allowMutableTag: true });
      if (!ref) continue;
      const verdict = await enginePull(docker, ref.toString(), timeoutMs);
      const hint = trustHint(verdict, ref.registry);
      if (hint) say(false, `engine -> registry ${ref.registry}: refused${hint}`);
      else if (/manifest unknown|not found|unknown tag|no such|does not exist|manifest for .* not found|reading manifest/i.test(verdict)) {
        say(true, `engine -> registry ${ref.registry}: reached and trusted (a pull of a missing tag answered '${verdict.slice(0, 80)}')`);
      } else say(false, `engine -> registry ${ref.registry}: ${verdict}`);
    }
  }
  if (config.targets.kubernetes) {
    lines.push(`note the kubelets' container runtime pulls on Kubernetes; --connect cannot ask it whether it trusts ${[...hosts].join(', ') || 'the registries'}`);
  }
  return { ok, lines };
}

/** The engine's answer to pulling `image` (expected to fail): its error text. */
async function enginePull(docker: import('dockerode'), image: string, timeoutMs: number): Promise<string> {
  try {
    const stream = await docker.pull(image);
    return await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
      docker.modem.followProgress(stream, (err: Error | null, events: Array<{ error?: string }>) => {
        clearTimeout(timer);
        resolve(err?.message ?? events?.find((e) => e.error)?.error ?? 'the pull of a tag that should not exist succeeded');
      });
    });
  } catch (e) {
    return (e as Error).message;
  }
}
