/**
 * Starts Debian's distribution registry (`/usr/bin/docker-registry`, package `docker-registry`) for a test: a free
 * 127.0.0.1 port, filesystem storage in a temp dir, optional htpasswd basic auth, optional notifications endpoint
 * (so pushes reach a webhook), deletes enabled by default. Stop it with `stop()` (by PID; the temp dir is removed).
 *
 * ```ts
 * const registry = await startRegistry({ notifications: { url: `http://127.0.0.1:${port}/webhooks/registry` } });
 * // registry.host === '127.0.0.1:41234', registry.url === 'http://127.0.0.1:41234'
 * await registry.stop();
 * ```
 */
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { freePort, requireTool, stopChild, tailFile, waitFor, WaitAbort } from './tools';

export interface RegistryNotifications {
  /** Webhook URL the registry POSTs its event envelopes to (`application/vnd.docker.distribution.events.v1+json`). */
  readonly url: string;
  /** Extra headers on every notification, e.g. `{ Authorization: 'Bearer s3cret' }`. @default {} */
  readonly headers?: Record<string, string>;
  /**
   * Media types whose events are not sent. Layer blobs are `application/octet-stream`.
   * @default ['application/octet-stream'] (only manifest events are sent)
   */
  readonly ignoredMediaTypes?: string[];
  /** Ignore pull events and keep only pushes/deletes. @default false */
  readonly ignorePulls?: boolean;
}

export interface RegistryOptions {
  /** Require basic auth with this single user (stored bcrypt-hashed in an htpasswd file). @default - no auth */
  readonly htpasswd?: { readonly username: string; readonly password: string };
  /** Require basic auth against this htpasswd file content as it is (e.g. what `modelpilot registry-credentials` made). @default - none */
  readonly htpasswdContent?: string;
  /** Send registry events to a webhook. @default - no notifications */
  readonly notifications?: RegistryNotifications;
  /** Allow `DELETE /v2/<name>/manifests/<digest>`. @default true */
  readonly deleteEnabled?: boolean;
  /** Path of the registry binary. @default '/usr/bin/docker-registry' (else `docker-registry` on PATH) */
  readonly binary?: string;
  /** How long to wait for `/v2/` to answer. @default 30000 */
  readonly startTimeoutMs?: number;
}

export interface TestRegistry {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `127.0.0.1:<port>` — the registry part of an image reference. */
  readonly host: string;
  readonly port: number;
  /** Temp dir holding config.yml, htpasswd, registry.log and the storage root (`data/`). */
  readonly dir: string;
  /** Value for an `Authorization` header when htpasswd is set, else undefined. */
  readonly authorization?: string;
  /** PID of the registry process. */
  readonly pid: number;
  /** Text the registry has logged so far (for failure messages). */
  logs(): string;
  /** Stops the registry by PID and removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

function registryBinary(explicit?: string): string {
  if (explicit) return requireTool(explicit, 'docker-registry');
  if (fs.existsSync('/usr/bin/docker-registry')) return requireTool('/usr/bin/docker-registry', 'docker-registry');
  return requireTool('docker-registry', 'docker-registry');
}

/** Starts a registry and resolves once `GET /v2/` answers (200, or 401 when auth is on). */
export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const binary = registryBinary(opts.binary);
  let lastError: unknown;
  // A free port can be taken between probing and binding by a parallel run; retry a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(binary, opts);
    } catch (err) {
      lastError = err;
      if (!(err instanceof PortInUseError)) throw err;
    }
  }
  throw lastError;
}

class PortInUseError extends WaitAbort {}

async function startOnce(binary: string, opts: RegistryOptions): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'info', formatter: 'text', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: path.join(dir, 'data') },
      delete: { enabled: opts.deleteEnabled ?? true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: { addr: host, secret: crypto.randomBytes(16).toString('hex') },
  };
  let authorization: string | undefined;
  if (opts.htpasswd) {
    const { username, password } = opts.htpasswd;
    if (username.includes(':')) {
      throw new Error(`'htpasswd.username' value '${username}' contains ':'; choose a user name without a colon`);
    }
    const file = path.join(dir, 'htpasswd');
    // distribution's htpasswd backend only accepts bcrypt hashes.
    fs.writeFileSync(file, `${username}:${bcrypt.hashSync(password, 10)}\n`, { mode: 0o600 });
    config.auth = { htpasswd: { realm: 'modelpilot-test', path: file } };
    authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  if (opts.htpasswdContent !== undefined) {
    const file = path.join(dir, 'htpasswd');
    fs.writeFileSync(file, opts.htpasswdContent, { mode: 0o600 });
    config.auth = { htpasswd: { realm: 'modelpilot-test', path: file } };
  }
  if (opts.notifications) {
    const n = opts.notifications;
    const headers: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(n.headers ?? {})) headers[k] = [v];
    config.notifications = {
      events: { includereferences: true },
      endpoints: [
        {
          name: 'modelpilot-test',
          url: n.url,
          headers,
          timeout: '2s',
          threshold: 3,
          backoff: '1s',
          ignoredmediatypes: n.ignoredMediaTypes ?? ['application/octet-stream'],
          ...(n.ignorePulls ? { ignore: { actions: ['pull'] } } : {}),
        },
      ],
    };
  }
  const configFile = path.join(dir, 'config.yml');
  fs.writeFileSync(configFile, stringify(config));
  const logFile = path.join(dir, 'registry.log');
  const logFd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binary, ['serve', configFile], { stdio: ['ignore', logFd, logFd], env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' } });
  } finally {
    fs.closeSync(logFd);
  }
  const logs = (): string => tailFile(logFile);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await stopChild(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (exited) {
          const text = logs();
          if (/address already in use/i.test(text)) throw new PortInUseError(`port ${port} was taken`);
          throw new WaitAbort(`docker-registry exited during start-up:\n${text}`);
        }
        const status = await httpStatus(`http://${host}/v2/`);
        return status === 200 || status === 401;
      },
      { what: `docker-registry on ${host} to answer /v2/`, timeoutMs: opts.startTimeoutMs ?? 30_000, diagnostics: logs },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://${host}`, host, port, dir, authorization, pid: child.pid ?? -1, logs, stop };
}

/**
 * Status code of a GET (no redirects followed); rejects on connection errors.
 * Exported for tests that probe the registry themselves.
 */
export function httpStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.once('error', reject);
  });
}

/**
 * Pushes a minimal OCI image (a config blob, no layers) under `repository:tag` and returns the manifest digest.
 * Enough for everything that only reads tags and digests (the agent, kwok's pods); not runnable. `created` sets
 * the image config's build time (none by default).
 */
export async function pushEmptyImage(reg: TestRegistry, repository: string, tag: string, created?: Date): Promise<string> {
  const config = Buffer.from(JSON.stringify({
    ...(created ? { created: created.toISOString() } : {}), architecture: 'amd64', os: 'linux', config: { Labels: { tag } }, rootfs: { type: 'layers', diff_ids: [] },
  }));
  const configDigest = `sha256:${crypto.createHash('sha256').update(config).digest('hex')}`;
  const headers: Record<string, string> = reg.authorization ? { Authorization: reg.authorization } : {};
  const start = await fetch(`${reg.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) throw new Error(`upload start ${start.status}: ${await start.text()}`);
  const location = new URL(start.headers.get('location') as string, reg.url);
  location.searchParams.set('digest', configDigest);
  const put = await fetch(location, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/octet-stream' }, body: config });
  if (put.status !== 201) throw new Error(`blob put ${put.status}: ${await put.text()}`);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers: [],
  }));
  const res = await fetch(`${reg.url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT', headers: { ...headers, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest,
  });
  if (res.status !== 201) throw new Error(`manifest put ${res.status}: ${await res.text()}`);
  return `sha256:${crypto.createHash('sha256').update(manifest).digest('hex')}`;
}
