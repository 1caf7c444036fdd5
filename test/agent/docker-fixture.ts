/**
 * A tiny test image for the Docker target's integration tests, made without any base-image pull: `podman import`
 * of a tarball holding the host's node binary, the libraries `ldd` lists, and a 10-line HTTP server. Versions are
 * `podman commit`s of it that differ only in `ENV MODEL_VERSION` (and `BROKEN=1` for a version that never gets
 * ready), pushed to a test registry so the target pulls them like real ones.
 *
 * The server listens on 127.0.0.1:$PORT (host networking), answers `/health/ready` (503 when BROKEN=1) and `/`
 * with `{"version": $MODEL_VERSION, "extra": $EXTRA}`, and exits on SIGTERM (and with code 1 after $EXIT_AFTER_MS, if set).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Docker from 'dockerode';
import type { TestPodman } from '../support/podman';

const SERVER_JS = `
const http = require('http');
const port = Number(process.env.PORT || 8080);
const broken = process.env.BROKEN === '1';
const s = http.createServer((q, r) => {
  if (q.url === '/health/ready') { r.statusCode = broken ? 503 : 200; r.end(broken ? 'broken' : 'ready'); return; }
  r.setHeader('Content-Type', 'application/json');
  r.end(JSON.stringify({ version: process.env.MODEL_VERSION, extra: process.env.EXTRA || '' }));
});
s.listen(port, '127.0.0.1');
process.on('SIGTERM', () => { s.close(); process.exit(0); });
// a version that is ready at once and crashes a little later (a crash loop under a restart policy)
if (Number(process.env.EXIT_AFTER_MS) > 0) setTimeout(() => process.exit(1), Number(process.env.EXIT_AFTER_MS));
`;

function nodeFiles(): string[] {
  const node = fs.realpathSync(process.execPath);
  const out = execFileSync('ldd', [node], { encoding: 'utf8' });
  const libs = [...out.matchAll(/(\/[^\s]+\.so[^\s]*)/g)].map((m) => m[1]);
  return [node, ...new Set(libs)];
}

/** Imports the base image into podman (once per podman instance) and returns its name. */
export async function importBaseImage(pod: TestPodman): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-img-'));
  try {
    const root = path.join(dir, 'root');
    for (const f of nodeFiles()) {
      const dest = path.join(root, f);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(f, dest);
    }
    fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
    const node = fs.realpathSync(process.execPath);
    if (node !== '/usr/bin/node') fs.copyFileSync(node, path.join(root, 'usr/bin/node'));
    fs.mkdirSync(path.join(root, 'app'), { recursive: true });
    fs.mkdirSync(path.join(root, 'tmp'), { recursive: true });
    fs.writeFileSync(path.join(root, 'app/server.js'), SERVER_JS);
    const tar = path.join(dir, 'rootfs.tar');
    execFileSync('tar', ['-C', root, '-cf', tar, '.']);
    const name = 'localhost/modelpilot-test/srv:base';
    await pod.podman([
      'import', '--change', 'CMD ["/usr/bin/node", "/app/server.js"]', '--change', 'ENV MODEL_VERSION=0.0.0',
      '--change', 'LABEL org.opencontainers.image.title=srv', tar, name,
    ], { timeoutMs: 180_000 });
    return name;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Commits `base` as `<registry>/<repository>:<version>` with MODEL_VERSION (and BROKEN) set, and pushes it. */
export async function pushVersion(
  pod: TestPodman, base: string, registry: string, repository: string, version: string, broken = false, env: Record<string, string> = {},
): Promise<string> {
  const ref = `${registry}/${repository}:${version}`;
  const tmp = `mp-fixture-${version.replace(/\W/g, '-')}-${process.pid}`;
  await pod.podman(['create', '--name', tmp, base]);
  try {
    const more = Object.entries(env).flatMap(([k, v]) => ['--change', `ENV ${k}=${v}`]);
    await pod.podman(['commit', '-q', '--change', `ENV MODEL_VERSION=${version}`, '--change', `ENV BROKEN=${broken ? '1' : '0'}`, ...more, tmp, ref]);
  } finally {
    await pod.podman(['rm', '-f', tmp]);
  }
  await pod.podman(['push', '--tls-verify=false', ref], { timeoutMs: 180_000 });
  return ref;
}

/** Pulls `image` through the Docker API and waits for the pull to finish. */
export async function pullImage(docker: Docker, image: string): Promise<void> {
  const s = await docker.pull(image);
  await new Promise((resolve, reject) => docker.modem.followProgress(s, (e: Error | null) => (e ? reject(e) : resolve(undefined))));
}
