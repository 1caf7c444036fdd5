/**
 * The CRDs the stacks use, from the upstream projects' Go module zips at the versions pinned in tools/versions.env
 * (`go mod download`, through the Go module proxy; nothing vendored that could drift).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');

/** The pinned CRD versions (tools/crds.env). */
export function toolVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(ROOT, 'tools/crds.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(\S+)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function moduleDir(mod: string, version: string): string {
  const goBin = fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
  const out = execFileSync(goBin, ['mod', 'download', '-json', `${mod}@${version}`], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod' } });
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${mod}@${version} failed: ${info.Error ?? out}`);
  return info.Dir;
}

/** Every CRD file, by project. */
export function crdFiles(): Array<{ project: string; file: string }> {
  const v = toolVersions();
  const sources: Array<{ project: string; mod: string; version: string; dir: string; match: RegExp }> = [
    { project: 'prometheus-operator', mod: 'github.com/prometheus-operator/prometheus-operator', version: v.PROMETHEUS_OPERATOR_VERSION, dir: 'example/prometheus-operator-crd', match: /^monitoring\.coreos\.com_.*\.yaml$/ },
    { project: 'argo-rollouts', mod: 'github.com/argoproj/argo-rollouts', version: v.ARGO_ROLLOUTS_VERSION, dir: 'manifests/crds', match: /-crd\.yaml$/ },
    { project: 'argo-cd', mod: 'github.com/argoproj/argo-cd/v3', version: v.ARGO_CD_VERSION, dir: 'manifests/crds', match: /-crd\.yaml$/ },
    { project: 'keda', mod: 'github.com/kedacore/keda/v2', version: v.KEDA_VERSION, dir: 'config/crd/bases', match: /^keda\.sh_.*\.yaml$/ },
  ];
  return sources.flatMap((s) => {
    const dir = path.join(moduleDir(s.mod, s.version), s.dir);
    return fs.readdirSync(dir).filter((f) => s.match.test(f)).sort().map((f) => ({ project: s.project, file: path.join(dir, f) }));
  });
}

/** Applies every CRD server-side and waits until each is Established. */
export function installCrds(kubectl: (args: readonly string[]) => string): Array<{ project: string; file: string }> {
  const files = crdFiles();
  for (const f of files) kubectl(['apply', '--server-side', '--field-manager=modelpilot-test', '-f', f.file]);
  kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  return files;
}

/** Argo Rollouts' own install manifest (manifests/install.yaml) from its module zip, at the pinned version. */
export function argoRolloutsInstall(): { version: string; file: string } {
  const version = toolVersions().ARGO_ROLLOUTS_VERSION;
  return { version, file: path.join(moduleDir('github.com/argoproj/argo-rollouts', version), 'manifests', 'install.yaml') };
}
