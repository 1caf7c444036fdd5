/**
 * A pass-through unix socket in front of the engine's Docker API (podman's service) that can SIGKILL the agent at
 * exactly one of its engine calls: the agent is pointed at this socket (agent.yaml `targets.docker.socket`), every
 * request is forwarded unchanged, and each call that changes something (POST/DELETE/PUT on containers and images:
 * pull, create, start, stop, rename, remove, …) is numbered from when the killer is armed. When call `n` arrives the
 * agent's process is killed by PID and the call is not forwarded: the agent died just before it. The calls seen
 * are kept, so a run without a kill lists the steps of an update.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';

export interface EngineCall {
  readonly method: string;
  readonly path: string;
  readonly at: number;
}

export interface EngineKiller {
  /** Where the agent connects. */
  readonly socketPath: string;
  /** Mutating calls seen since `arm` (all of them when no kill is set). */
  readonly calls: EngineCall[];
  /** Starts numbering; `killAt` (1-based) kills `pid()` at that call, undefined only records. */
  arm(killAt: number | undefined, pid: () => number): void;
  /** Stops killing and numbering (the restarted agent runs freely). */
  disarm(): void;
  /** When the kill happened (epoch ms), if it did, and at which call. */
  readonly killed?: { at: number; call: EngineCall };
  stop(): Promise<void>;
}

const REQUEST_LINE = /(?:^|\r\n)(POST|DELETE|PUT) (\S+) HTTP\/1\.[01]\r\n/g;

export async function startEngineKiller(upstream: string, socketPath: string): Promise<EngineKiller> {
  fs.rmSync(socketPath, { force: true });
  let armed = false;
  let killAt: number | undefined;
  let pidOf: () => number = () => 0;
  const sockets = new Set<net.Socket>();
  const k: { -readonly [K in keyof EngineKiller]: EngineKiller[K] } = {
    socketPath,
    calls: [],
    arm: (n, pid) => {
      armed = true;
      killAt = n;
      pidOf = pid;
      k.calls.length = 0;
      k.killed = undefined;
    },
    disarm: () => {
      armed = false;
      killAt = undefined;
    },
    killed: undefined,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(socketPath, { force: true });
    },
  };
  const server = net.createServer((client) => {
    const engine = net.connect(upstream);
    sockets.add(client);
    sockets.add(engine);
    const close = (): void => {
      client.destroy();
      engine.destroy();
      sockets.delete(client);
      sockets.delete(engine);
    };
    client.on('error', close);
    engine.on('error', close);
    client.on('close', close);
    engine.on('close', close);
    engine.pipe(client);
    client.on('data', (chunk: Buffer) => {
      if (armed) {
        const text = chunk.toString('latin1');
        for (const m of text.matchAll(REQUEST_LINE)) {
          const path = m[2].replace(/^\/v[\d.]+/, '');
          if (!/^\/(libpod\/)?(containers|images)\//.test(path)) continue;
          const call = { method: m[1], path, at: Date.now() };
          k.calls.push(call);
          if (killAt !== undefined && k.calls.length === killAt) {
            armed = false;
            k.killed = { at: Date.now(), call };
            try {
              process.kill(pidOf(), 'SIGKILL');
            } catch {
              // already gone
            }
            close();
            return;
          }
        }
      }
      engine.write(chunk);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return k;
}
