/** The Go-built signing tool (scripts/signing/build.sh): cosign. */
import { spawnSync } from 'child_process';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');

/** The directory of the cached cosign binary; throws with the command that builds it when it is missing. */
export function signingBinDir(): string {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/signing/build.sh'), '--check'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr.trim().split('\n').pop() ?? 'scripts/signing/build.sh --check failed');
  return r.stdout.trim().split('\n').pop()!;
}
