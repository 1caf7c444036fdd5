/**
 * The single-host bundle's synth checks agree with the real tools that read it (#27):
 * - every `listen` value the check accepts, Debian's HAProxy accepts (`haproxy -c` on the haproxy.cfg synth renders),
 *   and every value it refuses, `haproxy -c` refuses too — so synth refuses exactly what would never start;
 * - Debian's docker-compose (1.29) accepts the whole bundle as synthesized (`docker-compose config`), and refuses the
 *   relative Docker socket that synth refuses.
 * No override: the files are the ones `modelpilot synth --target compose` writes; nothing is started.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { run } from '../../bin/commands/synth';
import { haproxyConfig } from '../../lib/compose/haproxy';
import { bindProblem } from '../../lib/compose/single-host';
import { capture } from '../support/cli';
import { requireTool } from '../support/tools';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-bundle-check-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/** `haproxy -c` on the config synth renders around `listen`: true when HAProxy accepts it. */
function haproxyAccepts(listen: string): { ok: boolean; output: string } {
  const file = path.join(dir, `haproxy-${Buffer.from(listen).toString('hex')}.cfg`);
  fs.writeFileSync(file, haproxyConfig({ backend: 'recsys', listen, ports: [9001, 9002] }));
  const r = spawnSync(requireTool('haproxy'), ['-c', '-f', file], { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

describe('singleHost.listen: synth refuses exactly what haproxy -c refuses', () => {
  const values = [
    '0.0.0.0:8080', '127.0.0.1:80', '[::]:8080', ':8080', '*:8080', 'localhost:8080', '198.51.100.7:8443',
    'http://0.0.0.0:8080', '0.0.0.0', '0.0.0.0:0', '0.0.0.0:99999', '300.1.1.1:80', '8080', 'localhost:',
  ];
  test.each(values)('%s', (listen) => {
    const synthAccepts = bindProblem(listen, '0.0.0.0:8080') === undefined;
    const real = haproxyAccepts(listen);
    expect({ listen, synthAccepts, haproxyAccepts: real.ok }).toEqual({ listen, synthAccepts: real.ok, haproxyAccepts: real.ok });
  });

  test('where synth is stricter than HAProxy, it says so: a path after the port is refused though haproxy -c parses it', () => {
    expect(haproxyAccepts('0.0.0.0:80/path').ok).toBe(true);
    expect(bindProblem('0.0.0.0:80/path', '0.0.0.0:8080')).toContain('is not an address HAProxy can bind');
  });
});

describe('docker-compose config on the bundle as synthesized', () => {
  test('accepts the demo bundle; a relative Docker socket, which synth refuses, is refused by compose too', async () => {
    const out = path.join(dir, 'out');
    const { code, err } = await capture(() => run(['--target', 'compose', '--out', out]));
    expect(err).toBe('');
    expect(code).toBe(0);
    const bundle = path.join(out, 'recommendation-model');
    const compose = requireTool('docker-compose');
    const config = (file: string, env: NodeJS.ProcessEnv = { MODELPILOT_DOCKER_GID: '998' }) =>
      spawnSync(compose, ['-f', file, 'config', '-q'], { cwd: bundle, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH, ...env } });
    const good = config(path.join(bundle, 'compose.yaml'));
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
    // without the socket's group, compose refuses to start and says what to set (#28: the agent runs as uid 10001)
    const noGid = config(path.join(bundle, 'compose.yaml'), {});
    expect(noGid.status).not.toBe(0);
    expect(noGid.stderr).toContain('set MODELPILOT_DOCKER_GID to the group id of the Docker socket on this host');
    // the same file with the socket mount synth refuses ('docker.sock'): compose reads it as an undeclared named volume
    const relative = path.join(bundle, 'compose-relative-socket.yaml');
    const text = fs.readFileSync(path.join(bundle, 'compose.yaml'), 'utf8');
    expect(text).toContain('/var/run/docker.sock:/var/run/docker.sock');
    fs.writeFileSync(relative, text.replace('/var/run/docker.sock:/var/run/docker.sock', 'docker.sock:/var/run/docker.sock'));
    const bad = config(relative);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/docker\.sock/);
  });
});

describe('docker-compose config on the GPU example\'s bundle (#28)', () => {
  test('the model keeps its GPU (a device request), CPU and memory limits, cache volume and Secret env file, as compose reads them', async () => {
    const out = path.join(dir, 'gpu');
    const { code, err } = await capture(() => run([path.join(__dirname, '../../examples/llm-gpu/app.ts'), '--target', 'compose', '--strict', '--out', out]));
    expect(err).toBe('');
    expect(code).toBe(0);
    const bundle = path.join(out, 'llm-gpu');
    fs.mkdirSync(path.join(bundle, 'secrets/llm'), { recursive: true });
    fs.writeFileSync(path.join(bundle, 'secrets/llm/env'), 'HF_TOKEN=hf_test\n');
    const r = spawnSync(requireTool('docker-compose'), ['-f', path.join(bundle, 'compose.yaml'), 'config'], { cwd: bundle, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    type Service = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const llm = (parse(r.stdout) as { services: Record<string, Service> }).services.llm;
    expect(llm.deploy.resources.reservations.devices).toEqual([{ driver: 'nvidia', count: 1, capabilities: ['gpu'] }]);
    expect(llm).toMatchObject({ cpus: 8.0, mem_limit: '48g', mem_reservation: '32g', read_only: true, user: '65532:65532' });
    expect(llm.environment).toMatchObject({ HF_TOKEN: 'hf_test', HF_HOME: '/models' }); // the env file, read by compose
    expect(llm.volumes).toEqual(['llm-model-cache:/models:rw']); // docker-compose 1.29's short form: the named volume, writable
  });
});
