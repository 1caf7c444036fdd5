/** The Go-built delivery tools (scripts/delivery/build.sh): the Argo Rollouts controller and actionlint. */
import { spawnSync } from 'child_process';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');

/** The directory of the cached binaries; throws with the command that builds them when they are missing. */
export function deliveryBinDir(): string {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/delivery/build.sh'), '--check'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr.trim().split('\n').pop() ?? 'scripts/delivery/build.sh --check failed');
  return r.stdout.trim().split('\n').pop()!;
}
