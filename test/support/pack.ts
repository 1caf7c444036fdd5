/**
 * Installs the packed package the way npm would lay it out for a user, offline: `npm pack` the build, unpack the
 * tarball into `<dir>/node_modules/modelpilot`, then copy from this repository's node_modules exactly the closure of
 * what the user would get — modelpilot's `dependencies` plus the peers the user installs — following each
 * package's own `dependencies`/`optionalDependencies` with Node's resolution (nested first, then hoisted), so a
 * dev-only package is never reachable. The repository's node_modules comes from the lock, so the versions are the
 * ones npm resolves for the same ranges.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');
const ROOT_MODULES = path.join(ROOT, 'node_modules');

/** Packs the repository (its current build/) into `outDir`; returns the tarball path. */
export function packRepository(outDir: string): string {
  const out = execFileSync('npm', ['pack', '--pack-destination', outDir, '--ignore-scripts', '--json'], { cwd: ROOT, encoding: 'utf8' });
  const [info] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  return path.join(outDir, info.filename);
}

/** The files `npm pack` would ship. */
export function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT, encoding: 'utf8' });
  return (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path);
}

/** Where `name` resolves from a package directory under the repository's node_modules (nested, then up). */
function resolveFrom(fromDir: string, name: string): string | undefined {
  for (let dir = fromDir; dir.startsWith(ROOT_MODULES) || dir === ROOT; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === ROOT) break;
  }
  return undefined;
}

/**
 * Installs the tarball, its peers that are not optional (as npm does) plus `peers` into `<dir>/node_modules`; returns
 * the package directories copied (relative to
 * the repository's node_modules).
 */
export function installPacked(tarball: string, dir: string, peers: readonly string[]): string[] {
  const modules = path.join(dir, 'node_modules');
  const own = path.join(modules, 'modelpilot');
  fs.mkdirSync(own, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', own, '--strip-components=1']);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }));
  const ownPkg = JSON.parse(fs.readFileSync(path.join(own, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  };
  // npm (7+) installs a package's peers that are not optional along with it; the optional ones only when named
  const requiredPeers = Object.keys(ownPkg.peerDependencies ?? {}).filter((p) => !ownPkg.peerDependenciesMeta?.[p]?.optional);
  const copied = new Set<string>();
  const queue: Array<{ from: string; name: string }> = [...Object.keys(ownPkg.dependencies ?? {}), ...requiredPeers, ...peers]
    .map((name) => ({ from: ROOT, name }));
  while (queue.length > 0) {
    const { from, name } = queue.shift()!;
    const found = resolveFrom(from, name);
    if (!found) {
      const optional = from !== ROOT;
      if (optional) continue; // an optional dependency this platform did not install
      throw new Error(`'${name}' is not installed in ${ROOT_MODULES}; run npm ci`);
    }
    const rel = path.relative(ROOT_MODULES, found);
    if (copied.has(rel)) continue;
    copied.add(rel);
    const target = path.join(modules, rel);
    fs.mkdirSync(target, { recursive: true });
    for (const entry of fs.readdirSync(found)) {
      if (entry === 'node_modules') continue; // nested packages are copied when something needs them
      fs.cpSync(path.join(found, entry), path.join(target, entry), { recursive: true, dereference: true });
    }
    const pkg = JSON.parse(fs.readFileSync(path.join(found, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    const needed = [
      ...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {}),
      ...Object.keys(pkg.peerDependencies ?? {}).filter((p) => !pkg.peerDependenciesMeta?.[p]?.optional),
    ];
    for (const dep of needed) queue.push({ from: found, name: dep });
  }
  return [...copied].sort();
}

/** Total size in bytes of the files under `dir` (links not followed). */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += treeBytes(p);
    else if (entry.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

/** The audiences the README gives an install line for (`<!-- install: <audience> -->` then a sh block). */
export const INSTALL_AUDIENCES = ['cdk8s', 'pulumi', 'agent'] as const;

/** The packages (`name@version`) of the audience's `npm install` line in the README. */
export function readmeInstallLine(audience: string): Array<{ name: string; version: string }> {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- install: ${audience} -->\\n\`\`\`sh\\n(npm install [^\\n]+)`).exec(readme);
  if (!m) throw new Error(`README.md has no install line for '${audience}' (<!-- install: ${audience} --> then a sh block)`);
  return m[1].replace(/^npm install /, '').trim().split(/\s+/).map((spec) => {
    const at = spec.lastIndexOf('@');
    return { name: spec.slice(0, at), version: spec.slice(at + 1) };
  });
}
