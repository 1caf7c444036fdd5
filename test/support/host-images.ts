/**
 * Container images made from this host's own binaries, for tests that run the single-host bundle with a compose
 * client: no registry here serves haproxy, prom/prometheus or prom/alertmanager images, so the test imports the
 * Debian binaries (and the shared libraries `ldd` lists for them) as a one-layer image with `podman import` and
 * points the bundle at it with `synth --image <service>=<ref>`.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sharedLibraries } from '../../scripts/build-test-image';
import type { TestPodman } from './podman';

/** The user an upstream image runs as, and the directories it owns (path → 'uid:gid'). */
export interface HostImageUser {
  /** `uid:gid`, as the upstream image's USER. */
  readonly user: string;
  /** The passwd line's name (haproxy, nobody). */
  readonly name: string;
  /** Directories created owned by the user, as the upstream image has them (e.g. Prometheus' /prometheus). */
  readonly dirs?: string[];
}

/**
 * Imports `binaries` (absolute host paths, kept at the same paths) with their libraries as image `ref`, with
 * `entrypoint` (JSON exec form) and PATH set, plus the data `files` (host paths, kept at the same paths). With
 * `runAs`, the image runs as that user, as its upstream image does. Returns `ref`.
 */
export async function hostBinaryImage(
  pod: TestPodman, ref: string, binaries: string[], entrypoint?: string[], files: string[] = [], runAs?: HostImageUser,
): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-hostimg-'));
  try {
    const root = path.join(dir, 'root');
    const binFiles = new Set<string>();
    for (const b of binaries) {
      if (!fs.existsSync(b)) throw new Error(`${b} is not installed; run scripts/install-test-tools.sh`);
      binFiles.add(b);
      for (const l of await sharedLibraries(fs.realpathSync(b))) binFiles.add(l);
    }
    for (const f of binFiles) {
      const dest = path.join(root, f);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(fs.realpathSync(f), dest);
      fs.chmodSync(dest, 0o755);
    }
    for (const f of files) {
      const dest = path.join(root, f);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(f, dest);
    }
    for (const d of ['tmp', 'etc', 'var/lib', 'run']) fs.mkdirSync(path.join(root, d), { recursive: true });
    const [uid, gid] = (runAs?.user ?? '0:0').split(':').map(Number);
    const extra = runAs && uid !== 0 && uid !== 65534 ? { passwd: `${runAs.name}:x:${uid}:${gid}::/var/lib/${runAs.name}:/bin/false\n`, group: `${runAs.name}:x:${gid}:\n` }
      : { passwd: '', group: '' };
    fs.writeFileSync(path.join(root, 'etc/passwd'), `root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n${extra.passwd}`);
    fs.writeFileSync(path.join(root, 'etc/group'), `root:x:0:\nnogroup:x:65534:\n${extra.group}`);
    for (const d of runAs?.dirs ?? []) {
      fs.mkdirSync(path.join(root, d), { recursive: true });
      fs.chownSync(path.join(root, d), uid, gid);
    }
    fs.writeFileSync(path.join(root, 'etc/nsswitch.conf'), 'hosts: files dns\n');
    fs.writeFileSync(path.join(root, 'etc/hosts'), '127.0.0.1 localhost\n');
    const tar = path.join(dir, 'rootfs.tar');
    execFileSync('tar', ['--numeric-owner', '-C', root, '-cf', tar, '.']);
    const changes = ['--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
    if (entrypoint) changes.push('--change', `ENTRYPOINT ${JSON.stringify(entrypoint)}`);
    if (runAs) changes.push('--change', `USER ${runAs.user}`);
    await pod.podman(['import', ...changes, tar, ref], { timeoutMs: 180_000 });
    return ref;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
