import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildTestImage, parseArgs, runtimeDependencies, sharedLibraries, stageApp } from '../../scripts/build-test-image';
import { waitFor } from '../support/tools';
import { request, RISKY } from './helpers';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

describe('parseArgs', () => {
  test('reads version, registry, repeated --env and the switches', () => {
    expect(
      parseArgs(['--version', '1.2.0', '--registry', '127.0.0.1:5000', '--env', 'MODEL_FAULT_ERROR_RATIO=1', '--env', 'A=b=c', '--format', 'oci', '--remove-local']),
    ).toEqual({
      version: '1.2.0',
      registry: '127.0.0.1:5000',
      repository: undefined,
      modelName: undefined,
      env: { MODEL_FAULT_ERROR_RATIO: '1', A: 'b=c' },
      labels: {},
      format: 'oci',
      creds: undefined,
      healthcheck: false,
      removeLocal: true,
    });
  });

  test('--no-push drops the registry requirement', () => {
    expect(parseArgs(['--version', '1.0.0', '--no-push']).registry).toBeUndefined();
  });

  test.each([
    [[], "'--version' is required, e.g. --version 1.0.0"],
    [['--version', '1.0.0'], "'--registry' is required (e.g. --registry 127.0.0.1:5000), or pass --no-push"],
    [['--version', '1.0.0', '--env', 'NOEQUALS'], "'--env' value 'NOEQUALS' must look like KEY=VALUE"],
    [['--version', '--registry'], "'--version' needs a value"],
    [['--version', '1.0.0', '--format', 'tar'], "'--format' value 'tar' is not supported; use 'docker' or 'oci'"],
    [['--tag', 'x'], "unknown argument '--tag'; see the usage in scripts/build-test-image.ts"],
  ])('throws for %p', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('buildTestImage input checks (before any podman call)', () => {
  test.each([
    [{ version: 'v1.0' }, "'version' value 'v1.0' is not a semantic version; use one like '1.2.0'"],
    [{ version: '1.0.0', repository: 'Model/Server' }, "'repository' value 'Model/Server' is not a valid image repository; use lowercase path components like 'modelpilot/model-server'"],
    [{ version: '1.0.0', registry: 'http://127.0.0.1:5000' }, "'registry' value 'http://127.0.0.1:5000' is not a registry host; write it like '127.0.0.1:5000'"],
    [{ version: '1.0.0', env: { 'BAD-NAME': '1' } }, "'env' key 'BAD-NAME' is not a valid variable name; use letters, digits and '_'"],
  ])('throws if %p', async (opts, message) => {
    await expect(buildTestImage({ podman: { env: {}, binary: '/nonexistent/podman' }, ...opts })).rejects.toThrow(message);
  });
});

test('runtimeDependencies walks prom-client and what it requires', () => {
  const deps = runtimeDependencies(['prom-client'], REPO_ROOT);
  expect([...deps.keys()].sort()).toEqual(['@opentelemetry/api', 'bintrees', 'prom-client', 'tdigest']);
  expect(() => runtimeDependencies(['no-such-package-xyz'], REPO_ROOT)).toThrow(
    `runtime dependency 'no-such-package-xyz' is not installed under ${REPO_ROOT}; run 'npm ci' in the repository root`,
  );
});

test('sharedLibraries lists libc and the dynamic loader of the node binary', async () => {
  const libs = await sharedLibraries(process.execPath);
  expect(libs.some((l) => /\/libc\.so\.6$/.test(l))).toBe(true);
  expect(libs.some((l) => /\/ld-linux[^/]*\.so\.\d$/.test(l))).toBe(true);
  libs.forEach((l) => expect(fs.existsSync(l)).toBe(true));
});

describe('stageApp (the image app layer)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-stage-'));
    stageApp(path.join(dir, 'app'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('holds plain JS, the model and a flat node_modules, and no TypeScript', () => {
    const app = path.join(dir, 'app');
    expect(fs.readdirSync(path.join(app, 'src')).sort()).toEqual(['config.js', 'healthcheck.js', 'main.js', 'model.js', 'server.js']);
    expect(fs.existsSync(path.join(app, 'model', 'model.json'))).toBe(true);
    expect(fs.readdirSync(path.join(app, 'node_modules')).sort()).toEqual(['@opentelemetry', 'bintrees', 'prom-client', 'tdigest']);
    expect(JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')).main).toBe('src/main.js');
  });

  test('runs under plain node with nothing but its own files, and drains on SIGTERM', async () => {
    // GIVEN the staged layer copied outside the repository (no parent node_modules to fall back on)
    const child = spawn(process.execPath, [path.join(dir, 'app', 'src', 'main.js')], {
      cwd: dir,
      env: { PATH: '/usr/bin:/bin', PORT: '0', HOST: '127.0.0.1', MODEL_VERSION: '9.9.9' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let port = 0;
      await waitFor(
        () => {
          const m = /"msg":"listening".*?"port":(\d+)/.exec(out);
          port = m ? Number(m[1]) : 0;
          return port > 0;
        },
        { what: 'the staged server to listen', timeoutMs: 30_000, diagnostics: () => out },
      );
      await waitFor(async () => (await request(port, 'GET', '/health/ready')).status === 200, { what: 'readiness', timeoutMs: 30_000 });
      const res = await request(port, 'POST', '/predict', { features: RISKY });
      expect(res.status).toBe(200);
      expect(res.json.version).toBe('9.9.9');
      const healthcheck = spawn(process.execPath, [path.join(dir, 'app', 'src', 'healthcheck.js')], { env: { PORT: String(port) } });
      await expect(new Promise((resolve) => healthcheck.once('exit', resolve))).resolves.toBe(0);
    } finally {
      child.kill('SIGTERM');
    }
    await expect(exited).resolves.toBe(0);
  });
});
