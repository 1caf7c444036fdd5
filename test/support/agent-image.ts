/**
 * The updater agent image, built from agent/Dockerfile as users and the release workflow build it — the same
 * Dockerfile, context (the repository root with agent/Dockerfile.dockerignore), stages, user (10001), paths and
 * entrypoint — by a real `podman build`. Only its two base images cannot exist here (no container registry is
 * reachable), so the build arguments point them at images made from this host's binaries:
 *
 * | Dockerfile argument | upstream                                         | here                                                     |
 * |---------------------|--------------------------------------------------|----------------------------------------------------------|
 * | BUILD_IMAGE         | docker.io/library/node:20.19.5-bookworm-slim     | this host's node + npm + sh + env, npm in offline mode    |
 * | RUNTIME_IMAGE       | gcr.io/distroless/nodejs20-debian12:nonroot      | this host's node at /nodejs/bin/node, no shell, /tmp 1777 |
 *
 * The build runs with `--network none`: `npm ci` installs from npm's cache on this host (mounted as an overlay, so
 * the build never writes to it). `npm run build:agent-image` (scripts/agent-image/prepare.sh) fills that cache with
 * agent/package-lock.json's packages; the root lock's are there after `npm ci`.
 *
 * The built image is saved as an archive keyed by a hash of everything the build reads (Dockerfile, ignore file,
 * the context files it lets through, the base images' files), so the integration tier builds it once per change of
 * the agent's sources and loads it into each private podman.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import dockerignore from '@balena/dockerignore';
import { sharedLibraries } from '../../scripts/build-test-image';
import type { TestPodman } from './podman';
import { requireTool } from './tools';

const ROOT = path.resolve(__dirname, '../..');
/** The uid:gid agent/Dockerfile runs as (its `USER`). */
export const AGENT_IMAGE_USER = '10001:10001';
/** Where built images are kept between runs. */
const CACHE = path.join(process.env.MODELPILOT_TOOLS_CACHE ?? path.join(os.homedir(), '.cache', 'modelpilot', 'tools'), 'agent-image');
/** Bump when this helper builds differently. */
const HELPER_VERSION = '1';

/** The files of the build context agent/Dockerfile.dockerignore lets through (Docker's own ignore matcher). */
export function agentBuildContext(): string[] {
  const ig = dockerignore({ ignorecase: false }).add(fs.readFileSync(path.join(ROOT, 'agent', 'Dockerfile.dockerignore'), 'utf8'));
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const file = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!['node_modules', '.git'].includes(e.name)) walk(file);
      } else if (!ig.ignores(file)) {
        out.push(file);
      }
    }
  };
  walk('');
  return out.sort();
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      (err ? reject(new Error(`${path.basename(bin)} ${args.join(' ')}: ${err.message.split('\n')[0]}\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`))
        : resolve(stdout)));
  });
}

/** A rootfs: host files (absolute paths) placed at `to` (default: the same path). */
interface RootFile { from: string; to?: string }

interface RootfsOptions { changes: string[]; passwd: string; group: string; links?: Record<string, string> }

async function importRootfs(pod: TestPodman, ref: string, files: RootFile[], opts: RootfsOptions): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-agentbase-'));
  try {
    const root = path.join(dir, 'root');
    for (const f of files) {
      const dest = path.join(root, f.to ?? f.from);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      if (fs.statSync(f.from).isDirectory()) fs.cpSync(f.from, dest, { recursive: true, dereference: false, verbatimSymlinks: true });
      else fs.copyFileSync(fs.realpathSync(f.from), dest);
    }
    for (const [link, target] of Object.entries(opts.links ?? {})) {
      fs.mkdirSync(path.dirname(path.join(root, link)), { recursive: true });
      fs.symlinkSync(target, path.join(root, link));
    }
    for (const d of ['etc', 'root', 'var/lib']) fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.mkdirSync(path.join(root, 'tmp'), { recursive: true, mode: 0o1777 });
    fs.chmodSync(path.join(root, 'tmp'), 0o1777);
    fs.writeFileSync(path.join(root, 'etc/passwd'), opts.passwd);
    fs.writeFileSync(path.join(root, 'etc/group'), opts.group);
    fs.writeFileSync(path.join(root, 'etc/nsswitch.conf'), 'hosts: files dns\n');
    fs.writeFileSync(path.join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
    const tar = path.join(dir, 'rootfs.tar');
    await run('tar', ['-C', root, '-cf', tar, '.'], process.env, 300_000);
    await pod.podman(['import', ...opts.changes.flatMap((c) => ['--change', c]), tar, ref], { timeoutMs: 300_000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function libs(binaries: string[]): Promise<RootFile[]> {
  const all = new Set<string>();
  for (const b of binaries) for (const l of await sharedLibraries(fs.realpathSync(b))) all.add(l);
  return [...all].map((from) => ({ from }));
}

/** The coreutils the build stages run (env for npm's shebang). */
const COREUTILS = ['/usr/bin/env', '/usr/bin/mkdir', '/usr/bin/chmod', '/usr/bin/ls'];

/** Stand-in for node:20-bookworm-slim's part the build stages use: node, npm/npx, /bin/sh (RUN), coreutils. */
async function buildBase(pod: TestPodman, ref: string): Promise<void> {
  const node = fs.realpathSync(process.execPath);
  const npmDir = path.dirname(path.dirname(fs.realpathSync(requireTool('npm'))));
  await importRootfs(pod, ref, [
    { from: node, to: '/usr/local/bin/node' }, { from: npmDir, to: '/usr/local/lib/node_modules/npm' },
    { from: '/bin/sh', to: '/bin/sh' }, ...COREUTILS.map((from) => ({ from })), ...(await libs([node, '/bin/sh', ...COREUTILS])),
  ], {
    changes: [
      'ENV PATH=/usr/local/bin:/usr/bin:/bin', 'ENV npm_config_cache=/npm-cache', 'ENV npm_config_offline=true',
      'ENV npm_config_update_notifier=false', 'ENV npm_config_logs_max=0', 'USER 0:0',
    ],
    // npm and npx as the node image has them: links into npm's bin/
    links: { '/usr/local/bin/npm': '../lib/node_modules/npm/bin/npm-cli.js', '/usr/local/bin/npx': '../lib/node_modules/npm/bin/npx-cli.js' },
    passwd: 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n', group: 'root:x:0:\nnode:x:1000:\n',
  });
}

/** Stand-in for distroless nodejs20 (nonroot): node at /nodejs/bin/node, the nonroot user, /tmp, no shell. */
async function runtimeBase(pod: TestPodman, ref: string): Promise<void> {
  const node = fs.realpathSync(process.execPath);
  await importRootfs(pod, ref, [{ from: node, to: '/nodejs/bin/node' }, ...(await libs([node]))], {
    changes: ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/nodejs/bin', 'USER 65532:65532', 'WORKDIR /home/nonroot'],
    passwd: 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n',
    group: 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n',
  });
}

/** This process's hard limit of open files (a container cannot be given more). */
function openFilesLimit(): number {
  const m = /^Max open files\s+\S+\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return Math.min(Number(m?.[1] ?? 4096), 65536);
}

/** The key of the image these sources, this Dockerfile and these base files build. */
export function agentImageKey(): string {
  const h = crypto.createHash('sha256').update(`helper ${HELPER_VERSION}\n`);
  for (const f of ['agent/Dockerfile', 'agent/Dockerfile.dockerignore', ...agentBuildContext()]) h.update(`${f}\0`).update(fs.readFileSync(path.join(ROOT, f)));
  const node = fs.realpathSync(process.execPath);
  h.update(`${node}\0${fs.statSync(node).size}\0${process.version}\n`);
  return h.digest('hex').slice(0, 16);
}

/**
 * The agent image in `pod`'s storage, tagged `localhost/modelpilot-updater:test-<key>`: loaded from the archive of an
 * earlier build of the same sources, else built from agent/Dockerfile (1–3 min) and archived.
 */
export async function agentImage(pod: TestPodman): Promise<string> {
  const key = agentImageKey();
  const ref = `localhost/modelpilot-updater:test-${key}`;
  const archive = path.join(CACHE, `${key}.tar`);
  if (fs.existsSync(archive)) {
    await pod.podman(['load', '-i', archive], { timeoutMs: 300_000 });
    return ref;
  }
  const build = `localhost/mp-host/node-build:${key}`;
  const runtime = `localhost/mp-host/node-runtime:${key}`;
  await buildBase(pod, build);
  await runtimeBase(pod, runtime);
  const npmCache = (await run(requireTool('npm'), ['config', 'get', 'cache'], process.env, 60_000)).trim();
  await pod.podman(['build', '--network', 'none', '-f', path.join(ROOT, 'agent/Dockerfile'), '--ignorefile', path.join(ROOT, 'agent/Dockerfile.dockerignore'),
    '--build-arg', `BUILD_IMAGE=${build}`, '--build-arg', `RUNTIME_IMAGE=${runtime}`, '--build-arg', 'VERSION=0.0.0-test',
    // build-time only (the image keeps none): this podman's containers get no default ulimits, and npm ci opens many files
    '--ulimit', `nofile=${openFilesLimit()}:${openFilesLimit()}`,
    '-v', `${npmCache}:/npm-cache:O`, '-t', ref, ROOT], { timeoutMs: 900_000 }).catch((e: Error) => {
    throw new Error(`agent/Dockerfile did not build. If npm reports ENOTCACHED, fill npm's cache: npm run build:agent-image\n${e.message}`);
  });
  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = `${archive}.${process.pid}.tmp`;
  await pod.podman(['save', '--format', 'docker-archive', '-o', tmp, ref], { timeoutMs: 300_000 });
  fs.renameSync(tmp, archive);
  for (const old of fs.readdirSync(CACHE).filter((f) => f.endsWith('.tar') && f !== `${key}.tar`)
    .map((f) => ({ f, t: fs.statSync(path.join(CACHE, f)).mtimeMs })).sort((a, b) => b.t - a.t).slice(2)) {
    fs.rmSync(path.join(CACHE, old.f), { force: true });
  }
  return ref;
}

/** The agent image running as a container of `pod` (see {@link runAgentContainer}). */
export interface AgentContainer {
  /** The `podman run` client process (attached: its output is the agent's). */
  readonly child: ChildProcess;
  readonly name: string;
  output(): string;
  /** The container's exit code (137 after SIGKILL), once it has exited. */
  readonly exited: Promise<number | null>;
  /** The agent's PID on this host (the container's process), e.g. for a SIGKILL at an exact moment. */
  pid(): Promise<number>;
  /** Sends `signal` to the agent in the container (not to the podman client) and waits for the container to exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Lets the agent image (uid 10001) reach an engine's Docker API socket as on a stock host: the socket 0660, owned by a
 * group of its own (`gid`), which the container is given with `--group-add` (the bundle's `group_add`).
 */
export function shareSocket(pod: TestPodman | string, gid: number): void {
  const socket = typeof pod === 'string' ? pod : pod.socketPath;
  fs.chownSync(socket, 0, gid);
  fs.chmodSync(socket, 0o660);
}

/**
 * Runs `modelpilot agent --config <config> …args` from the agent image, as it ships: uid 10001, the socket's group
 * added, host networking. `dir` (config, token files) and each of `mounts` are mounted at the same path; directories
 * are made the agent user's (as the image's state volume is), sockets get the socket's group (see {@link shareSocket}).
 * pod's own socket is always mounted. Bounded: the client is killed after `maxMs`.
 */
export function runAgentContainer(pod: TestPodman, image: string, o: {
  name: string; dir: string; config: string; socketGid: number; args?: string[]; maxMs?: number; mounts?: string[];
}): AgentContainer {
  const mounts = [...new Set([o.dir, ...(o.mounts ?? []), pod.socketPath])];
  for (const m of mounts) {
    if (fs.statSync(m).isSocket()) shareSocket(m, o.socketGid);
    else fs.chownSync(m, 10001, 10001);
  }
  const env = { ...pod.env };
  delete env.CONTAINER_HOST;
  const child = spawn(pod.binary, ['run', '--rm', '--name', o.name, '--network', 'host', '--user', AGENT_IMAGE_USER,
    '--group-add', String(o.socketGid), ...mounts.flatMap((m) => ['-v', `${m}:${m}`]), image,
    'agent', '--config', o.config, ...(o.args ?? [])], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out = (out + String(d)).slice(-500_000); });
  child.stderr!.on('data', (d) => { out = (out + String(d)).slice(-500_000); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), o.maxMs ?? 240_000);
  void exited.then(() => clearTimeout(timer));
  return {
    child, name: o.name, exited, output: () => out,
    pid: async () => Number((await pod.podman(['inspect', '--format', '{{.State.Pid}}', o.name])).stdout.trim()),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        await pod.podman(['kill', '--signal', signal, o.name]).catch(() => undefined); // already gone: fine
      }
      return exited;
    },
  };
}

/** The agent image in `pod` and the group its socket is given, prepared once per podman. */
const prepared = new WeakMap<TestPodman, Promise<{ image: string; socketGid: number }>>();
/** The group that owns an engine socket in the tests (not root's, not the agent's own). */
export const TEST_SOCKET_GID = 47_216;
export function preparedAgentImage(pod: TestPodman): Promise<{ image: string; socketGid: number }> {
  let p = prepared.get(pod);
  if (!p) {
    p = agentImage(pod).then((image) => {
      shareSocket(pod, TEST_SOCKET_GID);
      return { image, socketGid: TEST_SOCKET_GID };
    });
    prepared.set(pod, p);
  }
  return p;
}
