/**
 * Builds the reference model-server image without a Docker engine and pushes it to a registry on 127.0.0.1.
 *
 *   npx ts-node --transpile-only scripts/build-test-image.ts --version 1.0.0 --registry 127.0.0.1:5000 \
 *     [--repository modelpilot/model-server] [--env MODEL_FAULT_ERROR_RATIO=1]... [--model-name churn] \
 *     [--format docker|oci] [--creds user:pass] [--healthcheck] [--no-push] [--remove-local]
 *
 * Two layers:
 *  1. base — the host's node binary (as /usr/local/bin/node), the shared libraries `ldd` lists for it, `sleep`
 *     (for a Kubernetes preStop hook) and /tmp, packed into a tarball and `podman import`ed. The tarball is cached
 *     on disk and the imported image kept in podman's storage, both keyed by a hash of the files, so building
 *     several versions costs one import.
 *  2. app — the server transpiled to plain JS (no ts-node in the image), the model JSON and the server's runtime
 *     dependency tree (prom-client and what it requires) copied from node_modules, added with `podman build`
 *     (COPY/ENV/LABEL/USER/CMD only: no RUN, so no container runs during the build).
 *
 * The image runs as uid 65532, has `org.opencontainers.image.version` set to the version, bakes PORT=8080,
 * MODEL_NAME and MODEL_VERSION, plus any `--env` (e.g. a fault mode, to make a deliberately bad version).
 */
import { execFile } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as semver from 'semver';
import * as ts from 'typescript';

const REPO_ROOT = path.resolve(__dirname, '..');
const SERVER_DIR = path.join(REPO_ROOT, 'examples', 'model-server');
/** Where node lives inside the image. */
export const IMAGE_NODE_PATH = '/usr/local/bin/node';
/** Non-root user of the image (the conventional "nonroot" uid). */
export const IMAGE_USER = '65532:65532';

export interface PodmanHandle {
  /** Environment for the podman CLI (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, ...). A `TestPodman` fits. */
  readonly env: NodeJS.ProcessEnv;
  /** @default 'podman' */
  readonly binary?: string;
}

export interface BuildTestImageOptions {
  /** Semantic version: the tag, MODEL_VERSION and `org.opencontainers.image.version`. */
  readonly version: string;
  /** Registry `host:port` to push to (plain HTTP is used for 127.0.0.1/localhost). @default - no push */
  readonly registry?: string | { readonly host: string };
  /** @default 'modelpilot/model-server' */
  readonly repository?: string;
  /** Extra environment baked into the image, e.g. `{ MODEL_FAULT_ERROR_RATIO: '1' }`. @default {} */
  readonly env?: Record<string, string>;
  /** The model JSON baked into the image (e.g. one trained by train.ts --variant). @default - examples/model-server/model/model.json */
  readonly modelFile?: string;
  /** MODEL_NAME baked into the image. @default 'churn' */
  readonly modelName?: string;
  /** Extra image labels. @default {} */
  readonly labels?: Record<string, string>;
  /** Manifest format. Docker v2s2 keeps HEALTHCHECK; OCI drops it. @default 'docker' */
  readonly format?: 'docker' | 'oci';
  /**
   * Add a HEALTHCHECK (node src/healthcheck.js). Off by default: podman here has no systemd to run healthchecks
   * and logs an error on every start, and a health status stuck at "starting" would mislead Docker-API clients.
   * @default false
   */
  readonly healthcheck?: boolean;
  /** `user:password` for the registry. @default - none */
  readonly creds?: string;
  /** podman to build with. @default - the podman on PATH with the ambient configuration */
  readonly podman?: PodmanHandle;
  /** Untag the built image locally after the push (the cached base image stays), so a later pull is real. @default false */
  readonly removeLocal?: boolean;
  /** Where the base tarball is cached. @default '<os tmpdir>/modelpilot-test-image-cache' */
  readonly cacheDir?: string;
}

export interface TestImage {
  readonly version: string;
  /** Reference in the registry, e.g. `127.0.0.1:5000/modelpilot/model-server:1.0.0` (the local tag when not pushed). */
  readonly ref: string;
  /** Local image id. */
  readonly imageId: string;
  /** Manifest digest in the registry (`sha256:...`), when pushed. */
  readonly digest?: string;
  /** The base image the app layer was added to. */
  readonly baseRef: string;
}

/** Builds the image (and pushes it when `registry` is set). */
export async function buildTestImage(opts: BuildTestImageOptions): Promise<TestImage> {
  const version = checkVersion(opts.version);
  const repository = opts.repository ?? 'modelpilot/model-server';
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(repository)) {
    throw new Error(`'repository' value '${repository}' is not a valid image repository; use lowercase path components like 'modelpilot/model-server'`);
  }
  const registryHost = opts.registry === undefined ? undefined : typeof opts.registry === 'string' ? opts.registry : opts.registry.host;
  if (registryHost !== undefined && !/^[A-Za-z0-9.-]+(:\d+)?$/.test(registryHost)) {
    throw new Error(`'registry' value '${registryHost}' is not a registry host; write it like '127.0.0.1:5000'`);
  }
  const modelName = opts.modelName ?? 'churn';
  const env = checkEnv({ PORT: '8080', MODEL_NAME: modelName, MODEL_VERSION: version, ...(opts.env ?? {}) });
  const podman = opts.podman ?? { env: process.env };
  const run = (args: string[], timeoutMs?: number): Promise<string> => podmanCli(podman, args, timeoutMs);

  const baseRef = await ensureBaseImage(run, opts.cacheDir ?? path.join(os.tmpdir(), 'modelpilot-test-image-cache'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-image-'));
  try {
    stageApp(path.join(work, 'app'), opts.modelFile);
    const labels: Record<string, string> = {
      'org.opencontainers.image.title': 'modelpilot reference model server',
      'org.opencontainers.image.description': `${modelName} model served over HTTP (POST /predict, /health/live, /health/ready, /metrics)`,
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.licenses': 'Apache-2.0',
      'org.opencontainers.image.vendor': 'modelpilot',
      ...(opts.labels ?? {}),
    };
    const lines = [
      `FROM ${baseRef}`,
      'COPY app /app',
      'WORKDIR /app',
      ...Object.entries(env).map(([k, v]) => `ENV ${k}=${JSON.stringify(v)}`),
      ...Object.entries(labels).map(([k, v]) => `LABEL ${JSON.stringify(k)}=${JSON.stringify(v)}`),
      'EXPOSE 8080',
      `USER ${IMAGE_USER}`,
      'STOPSIGNAL SIGTERM',
      ...(opts.healthcheck ? [`HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD ["${IMAGE_NODE_PATH}", "/app/src/healthcheck.js"]`] : []),
      `CMD ["${IMAGE_NODE_PATH}", "/app/src/main.js"]`,
      '',
    ];
    fs.writeFileSync(path.join(work, 'Containerfile'), lines.join('\n'));
    const localRef = `localhost/${repository}:${version}`;
    const ref = registryHost ? `${registryHost}/${repository}:${version}` : localRef;
    const idFile = path.join(work, 'image-id');
    await run(['build', '--pull=never', '--format', opts.format ?? 'docker', '--iidfile', idFile, '-t', localRef, '-t', ref, '-f', path.join(work, 'Containerfile'), work]);
    const imageId = fs.readFileSync(idFile, 'utf8').trim();
    let digest: string | undefined;
    if (registryHost) {
      const digestFile = path.join(work, 'digest');
      const plainHttp = /^(127\.0\.0\.1|localhost)(:\d+)?$/.test(registryHost);
      await run([
        'push',
        ...(plainHttp ? ['--tls-verify=false'] : []),
        ...(opts.creds ? ['--creds', opts.creds] : []),
        '--digestfile',
        digestFile,
        ref,
      ]);
      digest = fs.readFileSync(digestFile, 'utf8').trim();
      if (opts.removeLocal) await run(['rmi', '--force', localRef, ref]);
    }
    return { version, ref, imageId, digest, baseRef };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function checkVersion(version: string): string {
  if (semver.valid(version) !== version) {
    throw new Error(`'version' value '${version}' is not a semantic version; use one like '1.2.0'`);
  }
  return version;
}

function checkEnv(env: Record<string, string>): Record<string, string> {
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`'env' key '${k}' is not a valid variable name; use letters, digits and '_'`);
    if (typeof v !== 'string' || /[\n\r]/.test(v)) throw new Error(`'env' value of '${k}' must be a single-line string`);
  }
  return env;
}

function podmanCli(podman: PodmanHandle, args: string[], timeoutMs = 300_000): Promise<string> {
  const env = { ...podman.env };
  delete env.CONTAINER_HOST; // talk to local storage, not to a service
  return new Promise((resolve, reject) => {
    execFile(podman.binary ?? 'podman', args, { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        reject(
          new Error(
            missing
              ? "podman was not found; install it with 'bash scripts/install-test-tools.sh'"
              : `podman ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${stderr}`,
          ),
        );
      } else {
        resolve(stdout);
      }
    });
  });
}

/** Shared libraries (and the dynamic loader) `ldd` lists for a binary. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await new Promise<string>((resolve, reject) => {
    // a static binary: ldd says so on stderr and exits 1 (glibc) — it needs no libraries
    execFile('ldd', [binary], (err, stdout, stderr) => (err && !/not a dynamic executable/.test(`${stdout}${stderr}`)
      ? reject(new Error(`ldd ${binary} failed: ${err.message}`)) : resolve(`${stdout}${stderr}`)));
  });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]);
  }
  if (libs.length === 0 && !/not a dynamic executable|statically linked/.test(out)) {
    throw new Error(`ldd listed no libraries for ${binary}:\n${out}`);
  }
  return libs;
}

/** Makes sure the base image exists in podman's storage; returns its reference. */
async function ensureBaseImage(run: (args: string[], timeoutMs?: number) => Promise<string>, cacheDir: string): Promise<string> {
  const node = fs.realpathSync(process.execPath);
  const sleep = ['/usr/bin/sleep', '/bin/sleep'].find((p) => fs.existsSync(p));
  const files = [...new Set([...(await sharedLibraries(node)), ...(sleep ? [sleep, ...(await sharedLibraries(sleep))] : [])])];
  const hash = crypto.createHash('sha256');
  for (const f of [node, ...files]) {
    const st = fs.statSync(f);
    hash.update(`${f}\0${st.size}\0${st.mtimeMs}\n`);
  }
  const key = hash.digest('hex').slice(0, 16);
  const baseRef = `localhost/modelpilot-test-base:${key}`;
  const exists = await run(['image', 'exists', baseRef]).then(
    () => true,
    () => false,
  );
  if (exists) return baseRef;
  fs.mkdirSync(cacheDir, { recursive: true });
  const tarball = path.join(cacheDir, `base-${key}.tar`);
  if (!fs.existsSync(tarball)) await writeBaseTarball(tarball, node, files);
  await run(['import', '--change', `CMD ["${IMAGE_NODE_PATH}", "--version"]`, '--change', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', tarball, baseRef]);
  return baseRef;
}

/** `hostFiles`: absolute host paths stored at the same path in the image (symlinks resolved). */
async function writeBaseTarball(tarball: string, node: string, hostFilesAbs: string[]): Promise<void> {
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-base-'));
  try {
    fs.mkdirSync(path.join(staging, 'usr', 'local', 'bin'), { recursive: true });
    fs.copyFileSync(node, path.join(staging, 'usr', 'local', 'bin', 'node'));
    fs.chmodSync(path.join(staging, 'usr', 'local', 'bin', 'node'), 0o755);
    fs.mkdirSync(path.join(staging, 'tmp'));
    fs.chmodSync(path.join(staging, 'tmp'), 0o1777);
    fs.mkdirSync(path.join(staging, 'etc'));
    fs.writeFileSync(path.join(staging, 'etc', 'passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n');
    fs.writeFileSync(path.join(staging, 'etc', 'group'), 'root:x:0:\nnonroot:x:65532:\n');
    // mkdtemp makes the dir 0700; it becomes the image's / and must be readable by the non-root user.
    fs.chmodSync(staging, 0o755);
    const hostFiles = [...new Set(hostFilesAbs)].map((f) => f.replace(/^\//, ''));
    // Write to a temp name and rename, so a parallel run never imports a half-written tarball.
    const partial = `${tarball}.${process.pid}.partial`;
    await new Promise<void>((resolve, reject) => {
      execFile(
        'tar',
        ['--create', '--file', partial, '--owner=0', '--group=0', '--numeric-owner', '-C', staging, '.', '--dereference', '-C', '/', ...hostFiles],
        { maxBuffer: 16 * 1024 * 1024 },
        (err, _stdout, stderr) => (err ? reject(new Error(`tar failed: ${stderr || err.message}`)) : resolve()),
      );
    });
    fs.renameSync(partial, tarball);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** Writes the app layer: transpiled server, model, runtime node_modules and a package.json. */
export function stageApp(appDir: string, modelFile = path.join(SERVER_DIR, 'model', 'model.json')): void {
  const srcDir = path.join(SERVER_DIR, 'src');
  fs.mkdirSync(path.join(appDir, 'src'), { recursive: true });
  for (const file of fs.readdirSync(srcDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))) {
    const source = fs.readFileSync(path.join(srcDir, file), 'utf8');
    const out = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: file,
      reportDiagnostics: true,
    });
    if (out.diagnostics && out.diagnostics.length > 0) {
      throw new Error(`cannot transpile ${file}: ${ts.flattenDiagnosticMessageText(out.diagnostics[0].messageText, '\n')}`);
    }
    fs.writeFileSync(path.join(appDir, 'src', file.replace(/\.ts$/, '.js')), out.outputText);
  }
  fs.mkdirSync(path.join(appDir, 'model'));
  fs.copyFileSync(modelFile, path.join(appDir, 'model', 'model.json'));
  const pkg = JSON.parse(fs.readFileSync(path.join(SERVER_DIR, 'package.json'), 'utf8')) as { name: string; version: string; dependencies?: Record<string, string> };
  fs.writeFileSync(path.join(appDir, 'package.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, private: true, main: 'src/main.js' }, null, 2)}\n`);
  for (const [name, dir] of runtimeDependencies(Object.keys(pkg.dependencies ?? {}), REPO_ROOT)) {
    fs.cpSync(dir, path.join(appDir, 'node_modules', name), { recursive: true, dereference: true });
  }
}

/**
 * The installed packages `names` need at run time (their `dependencies`, transitively), resolved the way Node
 * does from `fromDir`. Returns package name -> directory. Throws if a package is missing or two versions would
 * have to share one flat node_modules.
 */
export function runtimeDependencies(names: string[], fromDir: string): Map<string, string> {
  const found = new Map<string, string>();
  const visit = (name: string, from: string): void => {
    const dir = findPackageDir(name, from);
    if (!dir) throw new Error(`runtime dependency '${name}' is not installed under ${from}; run 'npm ci' in the repository root`);
    const prev = found.get(name);
    if (prev !== undefined) {
      if (fs.realpathSync(prev) !== fs.realpathSync(dir)) throw new Error(`two copies of '${name}' are needed (${prev}, ${dir}); flatten node_modules`);
      return;
    }
    found.set(name, dir);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir);
  };
  for (const n of names) visit(n, fromDir);
  return found;
}

function findPackageDir(name: string, from: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Parses the CLI arguments (see the header comment). */
export function parseArgs(argv: string[]): BuildTestImageOptions {
  const env: Record<string, string> = {};
  const labels: Record<string, string> = {};
  let version: string | undefined;
  let registry: string | undefined;
  let repository: string | undefined;
  let modelName: string | undefined;
  let format: 'docker' | 'oci' | undefined;
  let creds: string | undefined;
  let push = true;
  let healthcheck = false;
  let removeLocal = false;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`'${flag}' needs a value`);
    return v;
  };
  const pair = (text: string, flag: string): [string, string] => {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new Error(`'${flag}' value '${text}' must look like KEY=VALUE`);
    return [text.slice(0, eq), text.slice(eq + 1)];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--version': version = value(i++, a); break;
      case '--registry': registry = value(i++, a); break;
      case '--repository': repository = value(i++, a); break;
      case '--model-name': modelName = value(i++, a); break;
      case '--creds': creds = value(i++, a); break;
      case '--env': { const [k, v] = pair(value(i++, a), a); env[k] = v; break; }
      case '--label': { const [k, v] = pair(value(i++, a), a); labels[k] = v; break; }
      case '--format': {
        const f = value(i++, a);
        if (f !== 'docker' && f !== 'oci') throw new Error(`'--format' value '${f}' is not supported; use 'docker' or 'oci'`);
        format = f;
        break;
      }
      case '--no-push': push = false; break;
      case '--healthcheck': healthcheck = true; break;
      case '--remove-local': removeLocal = true; break;
      default: throw new Error(`unknown argument '${a}'; see the usage in scripts/build-test-image.ts`);
    }
  }
  if (version === undefined) throw new Error("'--version' is required, e.g. --version 1.0.0");
  if (push && registry === undefined) throw new Error("'--registry' is required (e.g. --registry 127.0.0.1:5000), or pass --no-push");
  return { version, registry: push ? registry : undefined, repository, modelName, env, labels, format, creds, healthcheck, removeLocal };
}

if (require.main === module) {
  (async () => {
    const opts = parseArgs(process.argv.slice(2));
    const image = await buildTestImage(opts);
    process.stdout.write(`${JSON.stringify(image)}\n`);
  })().catch((err: unknown) => {
    process.stderr.write(`build-test-image: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
