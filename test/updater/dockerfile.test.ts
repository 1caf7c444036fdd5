import * as fs from 'fs';
import { builtinModules } from 'module';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import { ModelDeployment, ModelUpdater } from '../../lib';

/** agent/Dockerfile, read as instructions (the image itself needs base images this machine cannot pull). */
const ROOT = path.join(__dirname, '..', '..');
const lines = fs.readFileSync(path.join(ROOT, 'agent', 'Dockerfile'), 'utf8')
  .replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const instr = (name: string): string[] => lines.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());
const walk = (dir: string): string[] => fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : []);
const isBuiltin = (name: string): boolean => name.startsWith('node:') || builtinModules.includes(name);
const finalStage = lines.slice(lines.map((l) => l.startsWith('FROM ')).lastIndexOf(true));

function agentContainer(): Record<string, unknown> & { args: string[]; ports: Array<{ containerPort: number }>; securityContext: object } {
  const chart = new Chart(Testing.app(), 'c', { namespace: 'ml', disableResourceNameHashes: true });
  const model = new ModelDeployment(chart, 'M', { name: 'recsys', image: 'registry.example.com/models/recsys:1.0.0' });
  new ModelUpdater(chart, 'U', { models: [model] });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- synthesized JSON
  const d = (Testing.synth(chart) as any[]).find((o) => o.kind === 'Deployment' && o.metadata.name === 'modelpilot-updater');
  return d.spec.template.spec.containers[0];
}

describe('agent/Dockerfile', () => {
  test('is multi-stage: build (lib/core + agent + bin only), deps (agent/package.json), then a runtime stage that copies only those', () => {
    expect(instr('FROM')).toEqual(['${BUILD_IMAGE} AS build', '${BUILD_IMAGE} AS deps', '${RUNTIME_IMAGE}']);
    const copies = finalStage.filter((l) => l.startsWith('COPY '));
    expect(copies.every((l) => /^COPY --from=(build|deps) /.test(l))).toBe(true);
    expect(lines).toContain('RUN npx tsc -p tsconfig.agent.json');
    expect(lines).toContain('RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts');
    expect(instr('COPY').filter((l) => l.startsWith('lib'))).toEqual(['lib/core ./lib/core']);
  });

  test('agent/package.json lists exactly the bare modules the compiled agent requires, at the root package.json pins', () => {
    const agentPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'agent', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    for (const [name, version] of Object.entries(agentPkg.dependencies)) {
      expect([name, rootPkg.dependencies[name] ?? rootPkg.devDependencies[name]]).toEqual([name, version]);
    }
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'agent', 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
    for (const [name, version] of Object.entries(agentPkg.dependencies)) expect(lock.packages[`node_modules/${name}`]?.version).toBe(version);
    // what the agent's sources import (lib/core, agent/, and the CLI files tsconfig.agent.json compiles)
    const config = JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.agent.json'), 'utf8')) as { files: string[] };
    const sources = [...config.files.filter((f) => f.startsWith('bin/')), 'bin/args.ts', 'bin/agent-config.ts', ...walk('agent'), ...walk('lib/core')];
    const bare = new Set<string>();
    for (const f of sources) {
      for (const m of fs.readFileSync(path.join(ROOT, f), 'utf8').matchAll(/(?:from |require(?:Peer<[^>]*>)?\()'([^'.][^']*)'/g)) {
        const name = m[1].startsWith('@') ? m[1].split('/').slice(0, 2).join('/') : m[1].split('/')[0];
        if (!isBuiltin(name)) bare.add(name);
      }
    }
    expect([...bare].sort()).toEqual(Object.keys(agentPkg.dependencies).sort());
  });

  test('runs as a numeric non-root user', () => {
    const users = finalStage.filter((l) => l.startsWith('USER ')).map((l) => l.slice(5));
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0].split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
  });

  test('carries the OCI labels', () => {
    const labels = instr('LABEL').join(' ');
    for (const key of ['title', 'description', 'version', 'revision', 'created', 'licenses', 'source', 'documentation']) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
  });

  test('copies only paths that exist, and starts the compiled CLI that tsconfig.build.json emits', () => {
    for (const l of lines.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
      const sources = l.slice(5).split(/\s+/).slice(0, -1);
      for (const s of sources) expect(fs.existsSync(path.join(ROOT, s))).toBe(true);
    }
    const outDir = JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')).compilerOptions.outDir;
    // a small young generation keeps the agent's RSS down (bench/agent.bench.ts measures with the same flag)
    expect(JSON.parse(instr('ENTRYPOINT')[0])).toEqual(['/nodejs/bin/node', '--max-semi-space-size=2', `/app/${outDir}/bin/modelpilot.js`]);
    expect(fs.existsSync(path.join(ROOT, 'bin', 'modelpilot.ts'))).toBe(true);
  });

  test('agrees with what ModelUpdater runs: the same command, port and a uid the pod allows', () => {
    const c = agentContainer();
    expect(JSON.parse(instr('CMD')[0])).toEqual(c.args);
    expect(instr('EXPOSE')).toEqual([String(c.ports[0].containerPort)]);
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
  });
});
