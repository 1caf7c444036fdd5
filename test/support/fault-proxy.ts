/**
 * A fault-injecting HTTP forwarder on 127.0.0.1 in front of the test registry, for the chaos suite: every client
 * (podman's push and pull, the agent's registry client) talks to the registry through it, and a scenario switches
 * it between
 *
 * - `pass` — forward as is (the Host header too, so the registry's upload URLs point back through it);
 * - `down` — refuse connections (the listener is closed; reopened on the same port by `pass`);
 * - `slow` — hold each request `delayMs` before forwarding;
 * - `429` — answer `429 Too Many Requests` with `Retry-After: 1` (a rate-limit storm);
 * - `blackhole` — accept and never answer (a partition: packets go nowhere); such sockets are destroyed after 60 s
 *   or on `pass`.
 *
 * `only` limits the fault to requests whose path matches (e.g. `/manifests/sha256:` for "during a pull"); others
 * pass (`down` then cuts the matching requests' connections instead of closing the listener).
 */
import * as http from 'node:http';
import * as net from 'node:net';

export type FaultMode = 'pass' | 'down' | 'slow' | '429' | 'blackhole';

export interface FaultProxy {
  /** `127.0.0.1:<port>`: use it as the registry host. */
  readonly host: string;
  readonly port: number;
  /** Requests seen per mode they met (for the report). */
  readonly counts: Record<FaultMode, number>;
  set(mode: FaultMode, opts?: { delayMs?: number; only?: RegExp }): Promise<void>;
  stop(): Promise<void>;
}

export async function startFaultProxy(target: { host: string; port: number }, port: number): Promise<FaultProxy> {
  let mode: FaultMode = 'pass';
  let delayMs = 0;
  let only: RegExp | undefined;
  const held = new Set<net.Socket>();
  const counts: Record<FaultMode, number> = { pass: 0, down: 0, slow: 0, '429': 0, blackhole: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const forward = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const up = http.request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502).end(`fault proxy: ${e.message}`);
      else res.destroy();
    });
    req.pipe(up);
  };
  const server = http.createServer((req, res) => {
    const faulty = mode !== 'pass' && (!only || only.test(req.url ?? ''));
    const m = faulty ? mode : 'pass';
    counts[m]++;
    if (m === '429') {
      req.resume();
      res.writeHead(429, { 'Retry-After': '1', 'Content-Type': 'application/json' }).end('{"errors":[{"code":"TOOMANYREQUESTS","message":"chaos: rate limited"}]}');
      return;
    }
    if (m === 'down') {
      // `down` limited to some paths: those connections are cut (the listener stays for the others)
      req.socket.destroy();
      return;
    }
    if (m === 'blackhole') {
      held.add(req.socket);
      req.socket.setTimeout(60_000, () => req.socket.destroy());
      req.socket.once('close', () => held.delete(req.socket));
      return;
    }
    if (m === 'slow') {
      setTimeout(() => forward(req, res), delayMs);
      return;
    }
    forward(req, res);
  });
  server.keepAliveTimeout = 2000;
  const listen = (): Promise<void> => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const close = (): Promise<void> => {
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeAllConnections();
    for (const s of held) s.destroy();
    return closed;
  };
  await listen();
  return {
    host: `127.0.0.1:${port}`, port, counts,
    set: async (next, opts = {}) => {
      const closedNow = mode === 'down' && !only;
      const closeNext = next === 'down' && !opts.only;
      if (closeNext && !closedNow) await close();
      if (!closeNext && closedNow) await listen();
      if (next === 'pass') for (const s of held) s.destroy();
      mode = next;
      delayMs = opts.delayMs ?? 0;
      only = opts.only;
    },
    stop: async () => {
      for (const s of held) s.destroy();
      if (!(mode === 'down' && !only)) await close();
      agent.destroy();
    },
  };
}
