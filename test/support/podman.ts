/**
 * Starts a private podman for a test: its own containers.conf (`default_ulimits = []`, `runtime = "runc"` — podman
 * runs containers in this sandbox only with these), its own storage root/runroot and libpod tmp dir (so parallel
 * runs and other helpers never share images, containers or locks), a registries.conf that marks the given
 * 127.0.0.1 registries insecure (plain HTTP), and `podman system service` on a unix socket in the temp dir (the
 * Docker-compatible API, for dockerode). `env` points the podman CLI at the same configuration and storage, and
 * DOCKER_HOST at the socket.
 *
 * ```ts
 * const registry = await startRegistry();
 * const pod = await startPodman({ insecureRegistries: [registry.host] });
 * await pod.podman(['pull', `${registry.host}/demo/model-server:1.0.0`]);
 * const docker = new Docker({ socketPath: pod.socketPath });
 * await pod.stop(); // removes its containers, stops the service by PID, deletes the temp dir
 * ```
 *
 * Containers must use host networking (`--network host`, or `HostConfig.NetworkMode: 'host'`) and tests talk to
 * them only on 127.0.0.1.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { requireTool, stopChild, tailFile, waitFor, WaitAbort } from './tools';

export interface PodmanOptions {
  /** Registries (`host:port`) reached over plain HTTP, e.g. `[registry.host]`. @default [] */
  readonly insecureRegistries?: string[];
  /** How long to wait for `/_ping`. @default 30000 */
  readonly startTimeoutMs?: number;
}

export interface PodmanResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface TestPodman {
  /** Unix socket of the Docker-compatible API (`new Docker({ socketPath })`). */
  readonly socketPath: string;
  /** `unix://<socketPath>` */
  readonly dockerHost: string;
  /**
   * Environment for the podman CLI and Docker clients: CONTAINERS_CONF, CONTAINERS_STORAGE_CONF,
   * CONTAINERS_REGISTRIES_CONF, DOCKER_HOST, CONTAINER_HOST, plus the current process env.
   */
  readonly env: NodeJS.ProcessEnv;
  /** Temp dir holding the config files, storage, logs and the socket. */
  readonly dir: string;
  /** Absolute path of the podman binary. */
  readonly binary: string;
  /** PID of `podman system service`. */
  readonly pid: number;
  /** Runs the podman CLI against this instance; rejects with stderr on a non-zero exit. */
  podman(args: string[], opts?: { timeoutMs?: number }): Promise<PodmanResult>;
  /** Text the service has logged so far. */
  logs(): string;
  /** Removes every container of this instance, stops the service by PID and deletes the temp dir. Safe twice. */
  stop(): Promise<void>;
}

/** Writes the config files for a private podman into `dir` and returns the env that selects them. */
export function podmanEnv(dir: string, insecureRegistries: string[] = []): NodeJS.ProcessEnv {
  const containersConf = path.join(dir, 'containers.conf');
  const storageConf = path.join(dir, 'storage.conf');
  const registriesConf = path.join(dir, 'registries.conf');
  const socketPath = path.join(dir, 'podman.sock');
  fs.mkdirSync(path.join(dir, 'libpod-tmp'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'networks'), { recursive: true });
  fs.writeFileSync(
    containersConf,
    [
      '[containers]',
      'default_ulimits = []',
      '',
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = ${toml(path.join(dir, 'events.log'))}`,
      `tmp_dir = ${toml(path.join(dir, 'libpod-tmp'))}`,
      '',
      '[network]',
      // Networks are global by default (/etc/containers/networks); keep ours (and `system reset`) private.
      `network_config_dir = ${toml(path.join(dir, 'networks'))}`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    storageConf,
    [
      '[storage]',
      'driver = "overlay"',
      `graphroot = ${toml(path.join(dir, 'storage'))}`,
      `runroot = ${toml(path.join(dir, 'run'))}`,
      '',
    ].join('\n'),
  );
  const registries = ['unqualified-search-registries = []', ''];
  for (const host of insecureRegistries) {
    registries.push('[[registry]]', `location = ${toml(host)}`, 'insecure = true', '');
  }
  fs.writeFileSync(registriesConf, registries.join('\n'));
  return {
    ...process.env,
    CONTAINERS_CONF: containersConf,
    CONTAINERS_STORAGE_CONF: storageConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    DOCKER_HOST: `unix://${socketPath}`,
    CONTAINER_HOST: `unix://${socketPath}`,
  };
}

function toml(value: string): string {
  return JSON.stringify(value);
}

/** Runs `podman <args>` with `env`; rejects with the command and its stderr on failure. */
export function runPodman(binary: string, env: NodeJS.ProcessEnv, args: string[], timeoutMs = 120_000): Promise<PodmanResult> {
  // The CLI must talk to local storage, not to a service through CONTAINER_HOST.
  const cliEnv = { ...env };
  delete cliEnv.CONTAINER_HOST;
  return new Promise((resolve, reject) => {
    execFile(binary, args, { env: cliEnv, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`podman ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${stderr}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

/** Starts the private podman service; resolves once `GET /_ping` answers `OK`. */
export async function startPodman(opts: PodmanOptions = {}): Promise<TestPodman> {
  const binary = requireTool('podman');
  requireTool('runc');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-podman-'));
  const env = podmanEnv(dir, opts.insecureRegistries ?? []);
  const socketPath = path.join(dir, 'podman.sock');
  const logFile = path.join(dir, 'service.log');
  const logFd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    const serviceEnv = { ...env };
    delete serviceEnv.CONTAINER_HOST;
    child = spawn(binary, ['system', 'service', '--time=0', `unix://${socketPath}`], { stdio: ['ignore', logFd, logFd], env: serviceEnv });
  } finally {
    fs.closeSync(logFd);
  }
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const logs = (): string => tailFile(logFile);
  const podman = (args: string[], o: { timeoutMs?: number } = {}): Promise<PodmanResult> => runPodman(binary, env, args, o.timeoutMs);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Containers outlive the service (conmon), so remove them first; this storage is ours alone.
    await podman(['rm', '--all', '--force', '--time', '2'], { timeoutMs: 60_000 }).catch(() => undefined);
    await stopChild(child);
    // Releases any overlay mounts under our graphroot before the dir is deleted.
    await podman(['system', 'reset', '--force'], { timeoutMs: 60_000 }).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new WaitAbort(`podman system service exited during start-up:\n${logs()}`);
        return (await ping(socketPath)) === 'OK';
      },
      { what: `podman system service on ${socketPath} to answer /_ping`, timeoutMs: opts.startTimeoutMs ?? 30_000, diagnostics: logs },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { socketPath, dockerHost: `unix://${socketPath}`, env, dir, binary, pid: child.pid ?? -1, podman, logs, stop };
}

function ping(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body.trim()));
    });
    req.once('timeout', () => req.destroy(new Error('/_ping timed out')));
    req.once('error', reject);
  });
}
