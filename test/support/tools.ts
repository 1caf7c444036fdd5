/**
 * Small helpers shared by the integration harness: finding the real Debian tools (and failing loudly when one is
 * missing), free ports on 127.0.0.1, polling, and stopping a child process by its PID.
 */
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';

/**
 * Returns the absolute path of `name` on PATH (or `name` itself when it is already an absolute path that exists).
 * Throws an error naming scripts/install-test-tools.sh when the tool is missing: an integration test must fail,
 * never skip silently, when its tool is not installed.
 */
export function requireTool(name: string, debianPackage: string = name): string {
  if (path.isAbsolute(name)) {
    if (isExecutable(name)) return name;
  } else {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      if (dir === '') continue;
      const candidate = path.join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  throw new Error(
    `required tool '${name}' (Debian package '${debianPackage}') was not found on PATH; ` +
      'install the integration-test tools with `bash scripts/install-test-tools.sh`',
  );
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Asks the kernel for a free TCP port on 127.0.0.1 (bind to port 0, read it, close). */
/**
 * A free 127.0.0.1 port below Linux's ephemeral range (32768–60999). A port the kernel hands out for `listen(0)`
 * comes from that range, where any client socket of a concurrently running test can take it before the test
 * binds it (seen as EADDRINUSE); random ports in 20000–32767 are not used for client sockets.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    if (await canBind(port)) return port;
  }
  throw new Error('could not obtain a free port in 20000-32767 after 100 tries');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export interface WaitOptions {
  /** What is being waited for, named in the timeout error. */
  readonly what: string;
  /** @default 30000 */
  readonly timeoutMs?: number;
  /** @default 100 */
  readonly intervalMs?: number;
  /** Called on timeout to add context (e.g. the tail of a log file) to the error. */
  readonly diagnostics?: () => string;
}

/** Thrown from a `waitFor` check to stop waiting at once (e.g. the process being waited for has exited). */
export class WaitAbort extends Error {}

/**
 * Polls `check` until it returns true; throws after the timeout. Errors thrown by `check` count as "not yet",
 * except a `WaitAbort`, which is rethrown at once.
 */
export async function waitFor(check: () => Promise<boolean> | boolean, opts: WaitOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      if (err instanceof WaitAbort) throw err;
      lastError = err;
    }
    await sleep(intervalMs);
  }
  const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  const extra = opts.diagnostics ? `\n${opts.diagnostics()}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what}${cause}${extra}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Stops a child we started: SIGTERM to its PID, then SIGKILL after `graceMs`. Never signals anything by name.
 * Resolves once the process has exited.
 */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Last `maxChars` characters of a file, or '' if it cannot be read (for error messages). */
export function tailFile(file: string, maxChars = 4000): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.length > maxChars ? text.slice(-maxChars) : text;
  } catch {
    return '';
  }
}
