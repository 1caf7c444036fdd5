/**
 * `npm run bench`: runs every bench/*.bench.ts in turn, each in its own process (so each one's peak RSS is its
 * own); each writes bench/results/<name>.json, then the README's benchmark tables are rendered from the results
 * (bench/readme.ts). Exits non-zero if any benchmark fails.
 *
 * Usage: ts-node --transpile-only bench/run.ts [name-filter]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

function main(): number {
  const filter = process.argv[2];
  const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.bench.ts') && (!filter || f.includes(filter))).sort();
  if (files.length === 0) {
    process.stderr.write(`bench: no bench/*.bench.ts${filter ? ` matching '${filter}'` : ''}\n`);
    return 1;
  }
  const failed: string[] = [];
  for (const f of files) {
    process.stdout.write(`== ${f}\n`);
    const started = Date.now();
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, f)], {
      stdio: 'inherit',
      cwd: path.join(__dirname, '..'),
    });
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (r.status !== 0) {
      failed.push(f);
      process.stdout.write(`== ${f}: FAILED (exit ${r.status ?? r.signal}) after ${secs}s\n`);
    } else {
      process.stdout.write(`== ${f}: ok in ${secs}s\n`);
    }
  }
  // the README's benchmark tables are rendered from the results (bench/readme.ts); a failed render names the result
  const readme = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'readme.ts')], {
    stdio: 'inherit', cwd: path.join(__dirname, '..'),
  });
  if (readme.status !== 0) failed.push('readme.ts');
  if (failed.length) process.stderr.write(`bench: ${failed.length} failed: ${failed.join(', ')}\n`);
  return failed.length ? 1 : 0;
}

process.exitCode = main();
