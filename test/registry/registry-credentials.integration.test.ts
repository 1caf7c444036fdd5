/**
 * `modelpilot registry-credentials` against the real distribution registry: the htpasswd Secret it writes is what
 * the registry checks (bcrypt), and the pull Secret's credentials are the ones it accepts; without them a push is
 * refused. Traffic goes to 127.0.0.1 only.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { run } from '../../bin/commands/registry-credentials';
import { capture } from '../support/cli';
import { startRegistry, TestRegistry } from '../support/registry';

jest.setTimeout(60_000);

let dir: string;
let registry: TestRegistry;
let auth: { username: string; password: string; auth: string };

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- Secret YAML
let generated: { code: number; mode: number; htpasswd: Obj; pull: Obj };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-credentials-it-'));
  const file = path.join(dir, 'credentials.yaml');
  const r = await capture(() => run(['--namespace', 'ml', '--user', 'ci', '--host', 'localhost:30500', '--out', file]));
  const [htpasswd, pull] = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS());
  generated = { code: r.code, mode: fs.statSync(file).mode & 0o777, htpasswd, pull };
  auth = JSON.parse(pull.stringData['.dockerconfigjson']).auths['localhost:30500'];
  registry = await startRegistry({ htpasswdContent: htpasswd.stringData.htpasswd });
});

afterAll(async () => {
  await registry?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const startUpload = (authorization?: string) => fetch(`${registry.url}/v2/models/recsys/blobs/uploads/`, {
  method: 'POST', headers: authorization ? { Authorization: authorization } : {},
});

describe('the generated credentials on the real registry', () => {
  test('writes the two Secrets to --out, readable by the owner only', () => {
    expect(generated.code).toBe(0);
    expect(generated.mode).toBe(0o600);
    expect(generated.htpasswd.metadata).toMatchObject({ name: 'model-registry-htpasswd', namespace: 'ml' });
    expect(generated.htpasswd.stringData.htpasswd).toMatch(/^ci:\$2[aby]\$10\$.{53}\n$/);
    expect(generated.pull).toMatchObject({ type: 'kubernetes.io/dockerconfigjson', metadata: { name: 'model-registry-pull', namespace: 'ml' } });
  });

  test('a push without credentials is refused (401)', async () => {
    expect((await startUpload()).status).toBe(401);
  });

  test('a push with a wrong password is refused (401)', async () => {
    expect((await startUpload(`Basic ${Buffer.from(`${auth.username}:${auth.password}x`).toString('base64')}`)).status).toBe(401);
  });

  test("the pull Secret's credentials are accepted: a push can start (202) and the catalog can be read (200)", async () => {
    expect(auth.username).toBe('ci');
    expect(Buffer.from(auth.auth, 'base64').toString()).toBe(`ci:${auth.password}`);
    expect((await startUpload(`Basic ${auth.auth}`)).status).toBe(202);
    expect((await fetch(`${registry.url}/v2/_catalog`, { headers: { Authorization: `Basic ${auth.auth}` } })).status).toBe(200);
  });

  test('two runs make different passwords', async () => {
    const a = await capture(() => run(['--namespace', 'ml']));
    const b = await capture(() => run(['--namespace', 'ml']));
    const password = (out: string) => JSON.parse(YAML.parseAllDocuments(out)[1].toJS().stringData['.dockerconfigjson']).auths['model-registry.ml.svc:5000'].password as string;
    expect(password(a.out)).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(password(a.out)).not.toBe(password(b.out));
  });
});
