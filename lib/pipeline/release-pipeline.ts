/**
 * Release pipelines for model images (`modelpilot pipeline github|gitlab`): when the model's files change, test,
 * derive a semantic version (a VERSION file or a git tag — never `latest`, never a bare commit hash), build the image
 * with the OCI labels, refuse to overwrite a published version, push it, and optionally tell the updater
 * (`/webhooks/model`, HMAC-signed). Pure renderers: they return the workflow as an object; the CLI writes YAML.
 *
 * The shell steps are POSIX sh and read everything from environment variables (no `${{ }}` inside scripts), so they
 * are the same for both CI systems and can be run, as they are, by a test.
 */
import { DNS_LABEL_RE } from '../core/checks';
import { ImageRef } from '../core/image-ref';

/** Options of {@link githubReleaseWorkflow} and {@link gitlabReleasePipeline}. */
export interface ReleasePipelineOptions {
  /** The image repository without a tag, e.g. `registry.example.com/models/recsys`. */
  readonly image: string;
  /**
   * Files whose change starts a release (with `versionFrom: 'file'`).
   * @default ['models/**']
   */
  readonly paths?: string[];
  /** The Docker build context. @default 'models' */
  readonly context?: string;
  /** The Dockerfile. @default '<context>/Dockerfile' */
  readonly dockerfile?: string;
  /**
   * Where the version comes from: `file` (a VERSION file, released on pushes to `branch` that touch `paths`) or `tag`
   * (a git tag `v1.2.3` or `1.2.3`, released when the tag is pushed).
   * @default 'file'
   */
  readonly versionFrom?: 'file' | 'tag';
  /** The VERSION file (with `versionFrom: 'file'`). @default '<context>/VERSION' */
  readonly versionFile?: string;
  /** The branch releases are made from (with `versionFrom: 'file'`). @default 'main' */
  readonly branch?: string;
  /** The test command run before anything is built. @default 'npm ci && npm test' */
  readonly testCommand?: string;
  /**
   * The updater's model webhook, e.g. `https://updater.ml.example.com/webhooks/model`: after the push, a signed
   * `model.updated` event (HMAC-SHA256 of `<timestamp>.<body>` with the secret `MODELPILOT_WEBHOOK_HMAC`).
   * @default - no notification (the updater's registry webhook or poll finds the version)
   */
  readonly webhookUrl?: string;
  /** The `model_name` of the webhook event. @default - the image repository's last path segment */
  readonly modelName?: string;
}

/** The options with defaults applied. */
interface Resolved {
  readonly image: string;
  readonly registry: string;
  readonly paths: string[];
  readonly context: string;
  readonly dockerfile: string;
  readonly versionFrom: 'file' | 'tag';
  readonly versionFile: string;
  readonly branch: string;
  readonly testCommand: string;
  readonly webhookUrl?: string;
  readonly modelName: string;
}

/** The secrets (GitHub Actions secrets, GitLab CI/CD variables) the pipelines read. */
export const PIPELINE_SECRETS = {
  registryUsername: 'REGISTRY_USERNAME',
  registryPassword: 'REGISTRY_PASSWORD',
  webhookHmac: 'MODELPILOT_WEBHOOK_HMAC',
} as const;

/**
 * Derives the version into `$VERSION` (and prints it) from `VERSION_FROM` (`file`: `VERSION_FILE`; `tag`:
 * `GIT_TAG`, else the tag on HEAD); refuses anything that is not a semantic version. POSIX sh.
 */
export const VERSION_SCRIPT = `set -eu
if [ "$VERSION_FROM" = file ]; then
  [ -f "$VERSION_FILE" ] || { echo "version file '$VERSION_FILE' is missing; create it with a semantic version such as 1.0.0" >&2; exit 1; }
  VERSION="$(tr -d '[:space:]' < "$VERSION_FILE")"
else
  VERSION="\${GIT_TAG:-$(git describe --tags --exact-match 2>/dev/null || true)}"
  VERSION="\${VERSION#v}"
fi
if ! printf '%s\\n' "$VERSION" | grep -Eq '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$'; then
  echo "version '$VERSION' (from $VERSION_FROM) is not a semantic version such as 1.4.0; modelpilot never releases 'latest' or a commit hash" >&2
  exit 1
fi
echo "$VERSION"`;

/** Refuses to overwrite a version already in the registry (tags are immutable), then builds and pushes. POSIX sh, after login. */
export const BUILD_SCRIPT = `set -eu
if docker manifest inspect "$IMAGE:$VERSION" >/dev/null 2>&1; then
  echo "$IMAGE:$VERSION is already published; bump the version instead of overwriting it" >&2
  exit 1
fi
docker build --file "$DOCKERFILE" --tag "$IMAGE:$VERSION" \\
  --label "org.opencontainers.image.version=$VERSION" \\
  --label "org.opencontainers.image.source=$SOURCE_URL" \\
  --label "org.opencontainers.image.revision=$REVISION" \\
  "$CONTEXT"
docker push "$IMAGE:$VERSION"`;

/** Posts the signed `model.updated` event to `$WEBHOOK_URL` (curl, openssl). POSIX sh. */
export const NOTIFY_SCRIPT = `set -eu
body="$(printf '{"event":"model.updated","model_name":"%s","version":"%s"}' "$MODEL_NAME" "$VERSION")"
ts="$(date +%s)"
sig="$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$WEBHOOK_HMAC" -hex | sed 's/^.*= *//')"
curl --fail --silent --show-error --max-time 30 --retry 3 -X POST "$WEBHOOK_URL" \\
  -H 'Content-Type: application/json' -H "X-Modelpilot-Timestamp: $ts" -H "X-Modelpilot-Signature: sha256=$sig" --data "$body"`;

function resolve(o: ReleasePipelineOptions): Resolved {
  if (!o || typeof o.image !== 'string' || o.image === '') {
    throw new Error("'--image' is missing; give the image repository without a tag, e.g. 'registry.example.com/models/recsys'");
  }
  if (/[:@]/.test(o.image.split('/').slice(1).join('/')) || o.image.endsWith(':latest')) {
    throw new Error(`'--image' value '${o.image}' carries a tag or digest; give the repository only (the pipeline tags each version), e.g. 'registry.example.com/models/recsys'`);
  }
  const ref = ImageRef.tryParse(`${o.image}:0.0.0`);
  if (!ref || !o.image.includes('/') || !/[.:]|^localhost/.test(o.image.split('/')[0])) {
    throw new Error(`'--image' value '${o.image}' is not a registry/repository; give a host and a path, e.g. 'registry.example.com/models/recsys'`);
  }
  const paths = o.paths ?? ['models/**'];
  if (paths.length === 0 || paths.some((p) => typeof p !== 'string' || p.trim() === '' || p.startsWith('/'))) {
    throw new Error(`'--paths' value '${paths.join(',')}' is not a list of repository-relative globs; give e.g. 'models/**'`);
  }
  const context = o.context ?? 'models';
  for (const [flag, v] of [['--context', context], ['--dockerfile', o.dockerfile], ['--version-file', o.versionFile]] as const) {
    if (v !== undefined && (v === '' || v.startsWith('/') || v.split('/').includes('..') || /[\s'"$`\\]/.test(v))) {
      throw new Error(`'${flag}' value '${v}' is not a path inside the repository; give a relative path without spaces or quotes, e.g. 'models'`);
    }
  }
  const versionFrom = o.versionFrom ?? 'file';
  if (versionFrom !== 'file' && versionFrom !== 'tag') throw new Error(`'--version-from' value '${String(versionFrom)}' is not 'file' or 'tag'`);
  const branch = o.branch ?? 'main';
  if (!/^[A-Za-z0-9._/-]+$/.test(branch)) throw new Error(`'--branch' value '${branch}' is not a branch name; give e.g. 'main'`);
  if (o.webhookUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(o.webhookUrl);
    } catch {
      u = undefined;
    }
    if (!u || !['http:', 'https:'].includes(u.protocol) || !u.pathname.endsWith('/webhooks/model') || u.username || u.password) {
      throw new Error(`'--webhook-url' value '${o.webhookUrl}' is not the updater's model webhook; give e.g. 'https://updater.example.com/webhooks/model' (no credentials: the HMAC secret signs)`);
    }
  }
  const modelName = o.modelName ?? ref.repository.split('/').pop()!;
  if (!DNS_LABEL_RE.test(modelName)) throw new Error(`'--model' value '${modelName}' is not a model name; use lowercase letters, digits and '-'`);
  return {
    image: o.image, registry: o.image.split('/')[0], paths, context, dockerfile: o.dockerfile ?? `${context}/Dockerfile`, versionFrom,
    versionFile: o.versionFile ?? `${context}/VERSION`, branch, testCommand: o.testCommand ?? 'npm ci && npm test', webhookUrl: o.webhookUrl, modelName,
  };
}

/**
 * A GitHub Actions workflow (`.github/workflows/model-release.yml`): `test`, then `release` (version → login →
 * refuse an existing tag → build with OCI labels → push → optional signed webhook). Least privilege: `contents: read`.
 */
export function githubReleaseWorkflow(options: ReleasePipelineOptions): Record<string, unknown> {
  const r = resolve(options);
  const s = (name: string) => `\${{ secrets.${name} }}`;
  const on = r.versionFrom === 'file'
    ? { push: { branches: [r.branch], paths: r.paths }, workflow_dispatch: {} }
    : { push: { tags: ['v[0-9]+.[0-9]+.[0-9]+*', '[0-9]+.[0-9]+.[0-9]+*'] } };
  const release: Array<Record<string, unknown>> = [
    { uses: 'actions/checkout@v4', with: { 'fetch-depth': 0 } },
    {
      name: 'Derive the semantic version', id: 'version',
      env: { VERSION_FROM: r.versionFrom, VERSION_FILE: r.versionFile, GIT_TAG: r.versionFrom === 'tag' ? '${{ github.ref_name }}' : '' },
      run: `${VERSION_SCRIPT.replace(/\necho "\$VERSION"$/, '')}\necho "version=$VERSION" >> "$GITHUB_OUTPUT"`,
    },
    { name: 'Log in to the registry', uses: 'docker/login-action@v3', with: { registry: r.registry, username: s(PIPELINE_SECRETS.registryUsername), password: s(PIPELINE_SECRETS.registryPassword) } },
    {
      name: 'Build and push (never over a published version)',
      env: {
        IMAGE: r.image, VERSION: '${{ steps.version.outputs.version }}', CONTEXT: r.context, DOCKERFILE: r.dockerfile,
        SOURCE_URL: '${{ github.server_url }}/${{ github.repository }}', REVISION: '${{ github.sha }}',
      },
      run: BUILD_SCRIPT,
    },
  ];
  if (r.webhookUrl) {
    release.push({
      name: 'Tell the updater (signed model.updated)',
      env: { WEBHOOK_URL: r.webhookUrl, WEBHOOK_HMAC: s(PIPELINE_SECRETS.webhookHmac), MODEL_NAME: r.modelName, VERSION: '${{ steps.version.outputs.version }}' },
      run: NOTIFY_SCRIPT,
    });
  }
  return {
    name: `Release model ${r.modelName}`,
    on,
    permissions: { contents: 'read' },
    concurrency: { group: `model-release-${r.modelName}`, 'cancel-in-progress': false },
    jobs: {
      test: {
        'runs-on': 'ubuntu-latest',
        steps: [{ uses: 'actions/checkout@v4' }, { uses: 'actions/setup-node@v4', with: { 'node-version': '20' } }, { name: 'Test', run: r.testCommand }],
      },
      release: { 'needs': 'test', 'runs-on': 'ubuntu-latest', 'steps': release },
    },
  };
}

/**
 * A GitLab CI pipeline (`.gitlab-ci.yml`): stages `test`, `build` (version → login → refuse an existing tag → build
 * with OCI labels → push, Docker-in-Docker) and `deploy` (the optional signed webhook). Runs only when `paths`
 * change on `branch` (or for a version tag).
 */
export function gitlabReleasePipeline(options: ReleasePipelineOptions): Record<string, unknown> {
  const r = resolve(options);
  const rules = r.versionFrom === 'file'
    ? [{ if: `$CI_COMMIT_BRANCH == "${r.branch}"`, changes: r.paths }]
    : [{ if: '$CI_COMMIT_TAG =~ /^v?[0-9]+\\.[0-9]+\\.[0-9]+/' }];
  const pipeline: Record<string, unknown> = {
    stages: ['test', 'build', ...(r.webhookUrl ? ['deploy'] : [])],
    test: { stage: 'test', image: 'node:20', rules, script: [r.testCommand] },
    build: {
      stage: 'build', image: 'docker:27', services: ['docker:27-dind'], rules,
      variables: {
        VERSION_FROM: r.versionFrom, VERSION_FILE: r.versionFile, GIT_TAG: '$CI_COMMIT_TAG', IMAGE: r.image, CONTEXT: r.context, DOCKERFILE: r.dockerfile,
        SOURCE_URL: '$CI_PROJECT_URL', REVISION: '$CI_COMMIT_SHA', DOCKER_TLS_CERTDIR: '/certs',
      },
      before_script: ['apk add --no-cache git'],
      // each item runs in the job's shell, one after the other: VERSION set by the first is seen by the rest
      script: [
        VERSION_SCRIPT,
        'echo "VERSION=$VERSION" > version.env',
        `printf '%s' "$${PIPELINE_SECRETS.registryPassword}" | docker login --username "$${PIPELINE_SECRETS.registryUsername}" --password-stdin "${r.registry}"`,
        BUILD_SCRIPT,
      ],
      artifacts: { reports: { dotenv: 'version.env' } },
    },
  };
  if (r.webhookUrl) {
    // VERSION comes from the build job's dotenv report
    pipeline.notify = {
      stage: 'deploy', image: 'alpine:3.20', rules, needs: ['build'],
      variables: { WEBHOOK_URL: r.webhookUrl, MODEL_NAME: r.modelName, WEBHOOK_HMAC: `$${PIPELINE_SECRETS.webhookHmac}` },
      before_script: ['apk add --no-cache curl openssl'],
      script: [NOTIFY_SCRIPT],
    };
  }
  return pipeline;
}
