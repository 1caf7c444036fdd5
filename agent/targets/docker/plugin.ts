/**
 * The Docker target in the target table (agent/targets/index.ts): containers on one engine (Docker or Podman's
 * Docker API), blue/green behind HAProxy when `proxy` is set, else stop-then-start.
 */
import { ms } from '../../../lib/core/duration';
import { ImageRef } from '../../../lib/core/image-ref';
import { unreachableFix } from '../../loop/reconciler';
import { loadDockerConfig } from '../../registry';
import type { TargetPlugin } from '../index';
import { loadDockerode } from './dockerode';
import { HaproxyRuntime } from './haproxy';
import { DockerTarget, trustHint } from './index';


export const dockerTargetPlugin: TargetPlugin<'docker'> = {
  key: 'docker',
  updates: 'containers on one Docker or Podman engine (blue/green behind HAProxy, or stop-then-start)',
  build(d, config, { logger, clock }) {
    // Loaded only when configured, and without its ssh/BuildKit parts (see ./dockerode).
    const Docker = loadDockerode();
    return new DockerTarget({
      docker: new Docker({ socketPath: d.socket }), scope: d.scope, includeRestarting: d.includeRestarting,
      stopTimeoutSeconds: Math.ceil(ms(d.stopTimeout) / 1000), cleanup: d.cleanup, logger,
      now: () => clock.now(), sleep: (msec, signal) => clock.sleep(msec, signal),
      ...(d.proxy ? { proxy: new HaproxyRuntime(d.proxy.haproxy, undefined, d.proxy.stateFile), drainTimeoutMs: ms(d.proxy.drainTimeout) } : {}),
      unhealthyGraceMs: ms(config.health.readinessTimeout),
      credentials: config.registries.dockerConfig ? loadDockerConfig(config.registries.dockerConfig) : undefined,
    });
  },
  /**
   * The engine answers, and it reaches and trusts each image's registry: asked to pull a tag that does not exist, an
   * answer from the registry ("manifest unknown") means yes; "server gave HTTP response to HTTPS client" or a
   * certificate error means every real pull of an update would fail there (the agent's `registries.insecure` covers
   * only its own client). Nothing is pulled.
   */
  async connect(d, config, { timeoutMs, say }) {
    let Docker: ReturnType<typeof loadDockerode>;
    try {
      Docker = loadDockerode();
    } catch (e) {
      say(false, `the Docker client library: ${(e as Error).message}`);
      return;
    }
    const docker = new Docker({ socketPath: d.socket });
    try {
      await docker.ping();
      say(true, `engine at ${d.socket} answers`);
    } catch (e) {
      say(false, `engine at ${d.socket}: ${(e as Error).message}${unreachableFix('docker', `${(e as Error).message}`)}`);
      return;
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
  },
};

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
