/**
 * `modelpilot pipeline github|gitlab`: writes a release pipeline for a model image (lib/pipeline): on a change of the
 * model's files (or a version tag), test, derive a semantic version, build with the OCI labels, refuse to overwrite a
 * published version, push, and optionally send the updater a signed `model.updated` webhook.
 */
import * as fs from 'fs';
import * as path from 'path';
import { checkOutputDir, checkOutputFile, hasHeader } from '../../agent/files';
import { portableYaml } from '../../lib/core/yaml';
import { githubReleaseWorkflow, gitlabReleasePipeline, PIPELINE_SECRETS, ReleasePipelineOptions } from '../../lib/pipeline/release-pipeline';
import { parseCommandArgs } from '../args';

const USAGE = `usage: modelpilot pipeline github|gitlab --image <registry/repository> [--out <file>] [--paths 'models/**' ...]
                           [--context models] [--dockerfile <file>] [--version-from file|tag] [--version-file <file>]
                           [--branch main] [--test-command 'npm ci && npm test'] [--webhook-url <url>] [--model <name>]

Writes a CI pipeline that releases the model image when files under --paths change on --branch (--version-from file,
the default: the version is the content of --version-file, default <context>/VERSION) or when a version tag
(v1.2.3) is pushed (--version-from tag). It runs the tests, refuses anything but a semantic version (never 'latest',
never a commit hash), refuses to overwrite a published version, builds with the labels
org.opencontainers.image.version/source/revision, pushes, and with --webhook-url posts the updater a model.updated
event signed with HMAC-SHA256.
  github   .github/workflows/model-release.yml (default --out)
  gitlab   .gitlab-ci.yml (default --out)
Secrets it reads: ${PIPELINE_SECRETS.registryUsername}, ${PIPELINE_SECRETS.registryPassword}, and with --webhook-url ${PIPELINE_SECRETS.webhookHmac}
(the updater's HMAC secret). '--out -' writes to stdout.
Exit status: 0 written, 2 on usage errors.
`;

const DEFAULT_OUT = { github: '.github/workflows/model-release.yml', gitlab: '.gitlab-ci.yml' } as const;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, {
    image: { type: 'string', needs: "an image repository, e.g. '--image registry.example.com/models/recsys'" },
    out: { type: 'string', short: 'o', needs: "a file, or '-' for stdout" },
    paths: { type: 'string', multiple: true, needs: "a glob, e.g. '--paths models/**'" },
    context: { type: 'string', needs: "a directory, e.g. '--context models'" },
    dockerfile: { type: 'string', needs: 'a file' },
    'version-from': { type: 'string', needs: "'file' or 'tag'" },
    'version-file': { type: 'string', needs: 'a file' },
    branch: { type: 'string', needs: "a branch, e.g. '--branch main'" },
    'test-command': { type: 'string', needs: "a command, e.g. '--test-command \"make test\"'" },
    'webhook-url': { type: 'string', needs: "the updater's model webhook URL" },
    model: { type: 'string', needs: "a model name, e.g. '--model recsys'" },
  }, true);
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [kind, ...more] = args.positionals;
  if (kind !== 'github' && kind !== 'gitlab') {
    return usageError(kind === undefined ? "the CI system is missing; give 'github' or 'gitlab'" : `'${kind}' is not a CI system this writes; give 'github' or 'gitlab'`);
  }
  if (more.length) return usageError(`one CI system at a time (got '${kind}' and '${more[0]}')`);
  const v = args.values;
  const versionFrom = v['version-from'];
  if (versionFrom !== undefined && versionFrom !== 'file' && versionFrom !== 'tag') {
    return usageError(`'--version-from' value '${versionFrom}' is not 'file' or 'tag'`);
  }
  const options: ReleasePipelineOptions = {
    image: v.image as string, paths: v.paths, context: v.context, dockerfile: v.dockerfile, versionFrom, versionFile: v['version-file'],
    branch: v.branch, testCommand: v['test-command'], webhookUrl: v['webhook-url'], modelName: v.model,
  };
  let pipeline: Record<string, unknown>;
  try {
    pipeline = kind === 'github' ? githubReleaseWorkflow(options) : gitlabReleasePipeline(options);
  } catch (e) {
    return usageError((e as Error).message);
  }
  const header = `# Written by 'modelpilot pipeline ${kind}'. Secrets: ${PIPELINE_SECRETS.registryUsername}, ${PIPELINE_SECRETS.registryPassword}`
    + `${options.webhookUrl ? `, ${PIPELINE_SECRETS.webhookHmac}` : ''}.\n`;
  const text = header + portableYaml(pipeline, { lineWidth: 0 });
  const out = v.out ?? DEFAULT_OUT[kind];
  if (out === '-') {
    process.stdout.write(text);
    return 0;
  }
  const refused = checkOutputFile(out, {
    field: '--out', kind: 'a pipeline \'modelpilot pipeline\' wrote', isSameKind: (head) => hasHeader(head, /^# Written by 'modelpilot pipeline /),
    fix: "give a new file with --out (or '--out -' for stdout), or merge the printed pipeline into yours by hand",
  }) ?? checkOutputDir(path.dirname(out), '--out', "give a file in a directory, e.g. '--out .gitlab-ci.yml'");
  if (refused) return usageError(refused);
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, text);
  process.stderr.write(`wrote ${out}: release pipeline for ${options.image} (${kind}); set the secrets ${PIPELINE_SECRETS.registryUsername} and `
    + `${PIPELINE_SECRETS.registryPassword}${options.webhookUrl ? ` and ${PIPELINE_SECRETS.webhookHmac}` : ''}\n`);
  return 0;
}

function usageError(msg: string): number {
  process.stderr.write(`modelpilot pipeline: ${msg}\n\n${USAGE}`);
  return 2;
}
