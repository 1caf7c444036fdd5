import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { run } from '../../bin/commands/validate';
import { capture as captureOutput } from '../support/cli';

/** Runs the command with stdout/stderr captured. */
const capture = async (argv: string[]) => captureOutput(() => run(argv));

const GOOD = `apiVersion: v1
kind: Service
metadata: { name: recsys, namespace: ml }
spec:
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: v1
kind: List
items:
  - { apiVersion: v1, kind: ConfigMap, metadata: { name: c, namespace: ml } }
`;

const BAD = `apiVersion: apps/v1
kind: Deployment
metadata: { name: recsys, namespace: ml }
spec:
  replicas: two
  selector: { matchLabels: { app: recsys } }
  template:
    metadata: { labels: { app: recsys } }
    spec:
      containers: [{ name: model, image: "r/m:1.0.0" }]
---
apiVersion: example.com/v1
kind: Widget
metadata: { name: w }
`;

describe('modelpilot validate', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-validate-test-'));
    fs.writeFileSync(path.join(dir, 'good.yaml'), GOOD);
    fs.writeFileSync(path.join(dir, 'bad.yaml'), BAD);
    fs.writeFileSync(path.join(dir, 'broken.yaml'), 'a: [1,\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('exits 0 on valid files; a List contributes its items', async () => {
    const r = await capture([path.join(dir, 'good.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${path.join(dir, 'good.yaml')}: 2 objects valid\n`);
  });

  test('exits 1 on a bad file and names object, path and reason', async () => {
    const r = await capture([path.join(dir, 'good.yaml'), path.join(dir, 'bad.yaml')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${path.join(dir, 'bad.yaml')}: 2 invalid field(s) in 2 objects:`);
    expect(r.err).toContain('  Deployment ml/recsys: $.spec.replicas: must be integer\n');
    expect(r.err).toContain("  Widget w: $: no schema is known for apiVersion 'example.com/v1' kind 'Widget'");
  });

  test('--allow-unknown accepts a named unknown kind', async () => {
    const r = await capture(['--allow-unknown', 'example.com/v1/Widget', path.join(dir, 'bad.yaml')]);
    expect(r.code).toBe(1);
    expect(r.err).not.toContain('Widget');
    expect(r.err).toContain('$.spec.replicas: must be integer');
  });

  test('exits 1 on unreadable or unparsable files', async () => {
    const missing = await capture([path.join(dir, 'missing.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(`${path.join(dir, 'missing.yaml')}: no such file or directory\n`);
    const broken = await capture([path.join(dir, 'broken.yaml')]);
    expect(broken.code).toBe(1);
    expect(broken.err).toContain(`${path.join(dir, 'broken.yaml')}: document at line 1: YAML error:`);
  });

  test('a directory is searched for .yaml, .yml and .json files; one without any is an error', async () => {
    const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-validate-dir-'));
    try {
      fs.mkdirSync(path.join(tree, 'sub'));
      fs.writeFileSync(path.join(tree, 'a.yaml'), GOOD);
      fs.writeFileSync(path.join(tree, 'sub', 'b.json'), JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b', namespace: 'ml' } }));
      fs.writeFileSync(path.join(tree, 'notes.txt'), 'not a manifest');
      const r = await capture([tree]);
      expect(r.code).toBe(0);
      expect(r.out).toBe(`${path.join(tree, 'a.yaml')}: 2 objects valid\n${path.join(tree, 'sub', 'b.json')}: 1 objects valid\n`);
      fs.mkdirSync(path.join(tree, 'empty'));
      const empty = await capture([path.join(tree, 'empty')]);
      expect(empty.code).toBe(1);
      expect(empty.err).toBe(`${path.join(tree, 'empty')}: directory holds no .yaml, .yml or .json file\n`);
    } finally {
      fs.rmSync(tree, { recursive: true, force: true });
    }
  });

  test('a broken document in a stream is named by the line it starts on; a duplicate across documents is found', async () => {
    const file = path.join(dir, 'stream.yaml');
    const cm = (n: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${n}, namespace: ml }\n`;
    fs.writeFileSync(file, `${cm('a')}---\n${cm('b')}---\n${cm('a')}`);
    const dup = await capture([file]);
    expect(dup.code).toBe(1);
    expect(dup.err).toBe(`${file}: 1 invalid field(s) in 3 objects:\n  ConfigMap ml/a: $: is defined twice (objects 1 and 3); names must be unique per kind and namespace\n`);
    fs.writeFileSync(file, `${cm('a')}---\n${cm('b')}---\nkind: [1,\n`);
    const broken = await capture([file]);
    expect(broken.code).toBe(1);
    expect(broken.err).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: document at line 9: YAML error: `));
  });

  test('exits 2 without files', async () => {
    const r = await capture([]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('modelpilot validate: no file given');
  });
});
