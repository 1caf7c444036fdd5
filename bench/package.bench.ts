/**
 * What a user downloads: the packed package's file count and size, the node_modules of a cdk8s-only project that
 * installs it, the node_modules each README install line (cdk8s repo, Pulumi repo, agent only) lays out, and the
 * node_modules of the agent image (agent/package.json's runtime modules, `npm ci --omit=dev`
 * from agent/package-lock.json, as agent/Dockerfile's deps stage does). The "before" row was measured the same
 * way at commit 222b807 (before the entry points, peers and files allowlist), with `npm install` of the tarball.
 * Writes bench/results/package.json.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { INSTALL_AUDIENCES, installPacked, packedFiles, packRepository, readmeInstallLine, treeBytes } from '../test/support/pack';

const ROOT = path.resolve(__dirname, '..');
const MB = 1024 * 1024;

function main(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-package-bench-'));
  try {
    const files = packedFiles();
    const tarball = packRepository(tmp);
    const project = path.join(tmp, 'project');
    const copied = installPacked(tarball, project, ['cdk8s', 'constructs', 'cdk8s-plus-28']);
    const userBytes = treeBytes(path.join(project, 'node_modules'));
    // each audience's README install line, as installed from the tarball (test/package/install-lines.integration.test.ts)
    const perAudience: Record<string, { packagesOnLine: string[]; installMB: number; packages: number }> = {};
    for (const audience of INSTALL_AUDIENCES) {
      const line = readmeInstallLine(audience);
      const dir = path.join(tmp, `audience-${audience}`);
      const got = installPacked(tarball, dir, line.map((p) => p.name).filter((n) => n !== 'modelpilot'));
      perAudience[audience] = {
        packagesOnLine: line.map((p) => `${p.name}@${p.version}`),
        installMB: Number((treeBytes(path.join(dir, 'node_modules')) / MB).toFixed(1)), packages: got.length + 1,
      };
    }
    // the agent image's modules, from their own lock (needs the npm registry or its cache)
    const agentDir = path.join(tmp, 'agent');
    fs.mkdirSync(agentDir);
    for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(ROOT, 'agent', f), path.join(agentDir, f));
    execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline'], { cwd: agentDir, stdio: 'ignore' });
    const agentBytes = treeBytes(path.join(agentDir, 'node_modules'));
    const agentPackages = fs.readdirSync(path.join(agentDir, 'node_modules')).flatMap((d) =>
      d.startsWith('@') ? fs.readdirSync(path.join(agentDir, 'node_modules', d)).map((s) => `${d}/${s}`) : d.startsWith('.') ? [] : [d]);
    const result = {
      measured: new Date().toISOString(),
      method: 'npm pack; the tarball installed with the cdk8s peers (test/support/pack.ts); agent/package.json installed with npm ci --omit=dev',
      before: {
        commit: '222b807', packedFiles: 417, tarballKB: 612, cdk8sOnlyInstallMB: 173.6, cdk8sOnlyTopLevelPackages: 285,
        // the old image ran `npm prune --omit=dev`: every runtime dependency, the same tree a user installed
        agentImageNodeModulesMB: 173.6,
      },
      after: {
        packedFiles: files.length,
        tarballKB: Math.round(fs.statSync(tarball).size / 1024),
        cdk8sOnlyInstallMB: Number((userBytes / MB).toFixed(1)),
        cdk8sOnlyPackages: copied.length,
        agentImageNodeModulesMB: Number((agentBytes / MB).toFixed(1)),
        agentImageTopLevelPackages: agentPackages.length,
      },
      installLinesByAudience: perAudience,
    };
    fs.writeFileSync(path.join(__dirname, 'results', 'package.json'), JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(JSON.stringify(result.after) + '\n');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main();
