/**
 * The release pipelines' steps, run for real: the version step in `sh` (dash, POSIX) in a real git repository; the
 * build step with podman standing in for the docker CLI (a one-line `docker` → `podman` shim; podman's CLI takes the
 * same build/push/manifest commands) building a model image and pushing it to the real distribution registry, whose
 * image config then carries the OCI labels — and a second run refusing to overwrite the version; the notify step
 * (curl + openssl) against the agent's real webhook server, which accepts the signature; and actionlint (v1.7.12 from
 * the Go module proxy, scripts/delivery/build.sh) on the GitHub workflows.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { AgentHttpServer } from '../../agent/http';
import { TriggerEvent } from '../../agent/types';
import { BUILD_SCRIPT, githubReleaseWorkflow, NOTIFY_SCRIPT, VERSION_SCRIPT } from '../../lib/pipeline/release-pipeline';
import { deliveryBinDir } from '../support/delivery-tools';
import { podmanEnv } from '../support/podman';
import { startRegistry, TestRegistry } from '../support/registry';
import { requireTool } from '../support/tools';

jest.setTimeout(300_000);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-pipeline-it-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sh = (script: string, env: NodeJS.ProcessEnv, cwd: string) => {
  const r = spawnSync('sh', ['-c', script], { cwd, env, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
};
/** The same, without blocking the event loop (the webhook server under test runs in this process). */
const shAsync = (script: string, env: NodeJS.ProcessEnv, cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn('sh', ['-c', script], { cwd, env, timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; });
    child.stderr.on('data', (d: Buffer) => { stderr += d; });
    child.on('close', (status) => resolve({ status, stdout: stdout.trim(), stderr: stderr.trim() }));
  });

describe('the version step (sh)', () => {
  let repo: string;
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: repo, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  beforeAll(() => {
    repo = path.join(dir, 'repo');
    fs.mkdirSync(path.join(repo, 'models'), { recursive: true });
    git('init', '-q');
    git('-c', 'user.email=ci@example.com', '-c', 'user.name=ci', 'commit', '-q', '--allow-empty', '-m', 'init');
  });
  const version = (env: Record<string, string>) => sh(VERSION_SCRIPT, { PATH: process.env.PATH, ...env }, repo);

  test.each([['1.4.0\n', '1.4.0'], [' 2.0.0-rc.1 \n', '2.0.0-rc.1']])('a VERSION file %j gives %s', (content, expected) => {
    fs.writeFileSync(path.join(repo, 'models/VERSION'), content);
    expect(version({ VERSION_FROM: 'file', VERSION_FILE: 'models/VERSION' })).toEqual({ status: 0, stdout: expected, stderr: '' });
  });

  test.each(['latest', 'a1b2c3d', '1.4', 'v1.4.0', '01.2.3', '1.2.3+build.5'])('refuses %j: never latest, never a commit hash', (content) => {
    fs.writeFileSync(path.join(repo, 'models/VERSION'), content);
    const r = version({ VERSION_FROM: 'file', VERSION_FILE: 'models/VERSION' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`version '${content}' (from file) is not a semantic version such as 1.4.0; modelpilot never releases 'latest' or a commit hash`);
  });

  test('a missing VERSION file says how to create it', () => {
    const r = version({ VERSION_FROM: 'file', VERSION_FILE: 'models/NOPE' });
    expect([r.status, r.stderr]).toEqual([1, "version file 'models/NOPE' is missing; create it with a semantic version such as 1.0.0"]);
  });

  test('tag mode: the tag on HEAD (v stripped) or the CI\'s tag name; no tag, or a non-semver one, is refused', () => {
    expect(version({ VERSION_FROM: 'tag' }).status).toBe(1);
    git('tag', 'v3.1.4');
    expect(version({ VERSION_FROM: 'tag' })).toEqual({ status: 0, stdout: '3.1.4', stderr: '' });
    expect(version({ VERSION_FROM: 'tag', GIT_TAG: '3.2.0' }).stdout).toBe('3.2.0');
    expect(version({ VERSION_FROM: 'tag', GIT_TAG: 'nightly' }).status).toBe(1);
  });
});

describe('the build step, with podman as the docker CLI, against the real registry', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    requireTool('podman', 'podman');
    registry = await startRegistry();
  });
  afterAll(async () => registry?.stop());

  /** A fresh CI runner: its own podman storage, a `docker` that is podman. */
  function runner(name: string): NodeJS.ProcessEnv {
    const home = path.join(dir, name);
    const bin = path.join(home, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    // The docker CLI's stand-in: podman for build and push; `manifest inspect` as the docker CLI does it (podman 4.3's
    // looks in local storage only): a GET of the manifest from the registry, non-zero when it is not there.
    fs.writeFileSync(path.join(bin, 'docker'), [
      '#!/bin/sh',
      'if [ "$1" = manifest ] && [ "$2" = inspect ]; then',
      '  ref="$3"; host="${ref%%/*}"; rest="${ref#*/}"; repo="${rest%:*}"; tag="${rest##*:}"',
      '  exec curl -fsS -o /dev/null -H "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" '
        + '"http://$host/v2/$repo/manifests/$tag"',
      'fi',
      'exec podman "$@"',
      '',
    ].join('\n'), { mode: 0o755 });
    const env = podmanEnv(home, [registry.host]);
    delete env.CONTAINER_HOST;
    delete env.DOCKER_HOST;
    return { ...env, PATH: `${bin}:${process.env.PATH}` };
  }

  test('builds the model image with the OCI labels and pushes it; a second release of the same version is refused', async () => {
    const ctx = path.join(dir, 'ctx', 'models');
    fs.mkdirSync(ctx, { recursive: true });
    fs.writeFileSync(path.join(ctx, 'model.json'), '{"weights":[0.1,0.2]}\n');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY model.json /model/model.json\n');
    const env = {
      IMAGE: `${registry.host}/models/recsys`, VERSION: '1.4.0', CONTEXT: 'models', DOCKERFILE: 'models/Dockerfile',
      SOURCE_URL: 'https://github.com/acme/ml-platform', REVISION: 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2',
    };
    const first = sh(BUILD_SCRIPT, { ...runner('runner-1'), ...env }, path.dirname(ctx));
    expect([first.status, first.stderr.slice(-2000)]).toEqual([0, expect.any(String)]);
    // what the registry holds: the manifest's config carries the labels
    const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';
    const manifest = await (await fetch(`${registry.url}/v2/models/recsys/manifests/1.4.0`, { headers: { Accept: accept } })).json() as { config: { digest: string } };
    const config = await (await fetch(`${registry.url}/v2/models/recsys/blobs/${manifest.config.digest}`)).json() as { config: { Labels: Record<string, string> } };
    expect(config.config.Labels).toMatchObject({
      'org.opencontainers.image.version': '1.4.0', 'org.opencontainers.image.source': 'https://github.com/acme/ml-platform',
      'org.opencontainers.image.revision': env.REVISION,
    });
    // the same version again, from another runner: refused before anything is built or pushed
    const again = sh(BUILD_SCRIPT, { ...runner('runner-2'), ...env }, path.dirname(ctx));
    expect([again.status, again.stderr]).toEqual([1, `${env.IMAGE}:1.4.0 is already published; bump the version instead of overwriting it`]);
  });
});

describe('the notify step (curl + openssl) against the agent\'s webhook server', () => {
  const SECRET = 'pipeline-hmac-secret-0123456789';
  let server: AgentHttpServer;
  let url: string;
  const events: TriggerEvent[] = [];
  const abort = new AbortController();
  beforeAll(async () => {
    server = new AgentHttpServer({
      port: 0, host: '127.0.0.1', auth: { hmacSecret: SECRET }, maxBodyBytes: 1024 * 1024, requestsPerSecond: 100,
      metrics: async () => ({ contentType: 'text/plain', body: '' }), healthz: () => ({ healthy: true, detail: {} }),
    });
    url = `http://127.0.0.1:${await server.listen()}/webhooks/model`;
    await server.trigger().start((e) => events.push(e), abort.signal);
  });
  afterAll(async () => {
    abort.abort();
    await server.close();
  });

  test('the signed model.updated event is accepted and triggers the model', async () => {
    const r = await shAsync(NOTIFY_SCRIPT, { PATH: process.env.PATH, WEBHOOK_URL: url, WEBHOOK_HMAC: SECRET, MODEL_NAME: 'recsys', VERSION: '1.4.0' }, dir);
    expect(r.status).toBe(0);
    expect(events).toEqual([{ source: 'webhook:model', models: ['recsys'] }]);
  });

  test('signed with another secret: the agent answers 401 and the step fails', async () => {
    events.length = 0;
    const r = await shAsync(NOTIFY_SCRIPT, { PATH: process.env.PATH, WEBHOOK_URL: url, WEBHOOK_HMAC: 'not-the-secret-0123456789', MODEL_NAME: 'recsys', VERSION: '1.4.0' }, dir);
    expect(r.status).toBe(22); // curl --fail: HTTP error
    expect(r.stderr).toContain('401');
    expect(events).toEqual([]);
  });
});

describe('actionlint', () => {
  test('finds nothing to report in the GitHub workflows (file and tag mode, with a webhook)', () => {
    const actionlint = path.join(deliveryBinDir(), 'actionlint');
    const repo = path.join(dir, 'lint');
    fs.mkdirSync(path.join(repo, '.github/workflows'), { recursive: true });
    spawnSync('git', ['init', '-q'], { cwd: repo });
    const image = 'registry.example.com/models/recsys';
    const write = (name: string, wf: unknown) => fs.writeFileSync(path.join(repo, '.github/workflows', name), YAML.stringify(wf, { lineWidth: 0 }));
    write('file.yml', githubReleaseWorkflow({ image, webhookUrl: 'https://updater.example.com/webhooks/model' }));
    write('tag.yml', githubReleaseWorkflow({ image, versionFrom: 'tag' }));
    const r = spawnSync(actionlint, ['-color=false'], { cwd: repo, encoding: 'utf8' });
    expect([r.status, r.stdout + r.stderr]).toEqual([0, '']);
    // and it does report: a script that splices an untrusted expression
    const bad = githubReleaseWorkflow({ image }) as { jobs: { release: { steps: Array<Record<string, unknown>> } } };
    bad.jobs.release.steps.push({ name: 'unsafe', run: 'echo "${{ github.event.head_commit.message }}"' });
    write('bad.yml', bad);
    const flagged = spawnSync(actionlint, ['-color=false', '.github/workflows/bad.yml'], { cwd: repo, encoding: 'utf8' });
    expect(flagged.status).toBe(1);
    expect(flagged.stdout).toContain('potentially untrusted');
  });

  test('finds nothing to report in the repository\'s own updater release workflow', () => {
    const actionlint = path.join(deliveryBinDir(), 'actionlint');
    const repo = path.join(dir, 'own');
    fs.mkdirSync(path.join(repo, '.github/workflows'), { recursive: true });
    spawnSync('git', ['init', '-q'], { cwd: repo });
    fs.copyFileSync(path.resolve(__dirname, '../../.github/workflows/release.yml'), path.join(repo, '.github/workflows/release.yml'));
    const r = spawnSync(actionlint, ['-color=false'], { cwd: repo, encoding: 'utf8' });
    expect([r.status, r.stdout + r.stderr]).toEqual([0, '']);
  });
});
