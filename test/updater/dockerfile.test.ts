import * as fs from 'fs';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import { ModelDeployment, ModelUpdater } from '../../lib';

/** agent/Dockerfile, read as instructions (the image itself needs base images this machine cannot pull). */
const ROOT = path.join(__dirname, '..', '..');
const lines = fs.readFileSync(path.join(ROOT, 'agent', 'Dockerfile'), 'utf8')
  .replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const instr = (name: string): string[] => lines.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());
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
  test('is multi-stage: a build stage, then a runtime stage that copies only the build output and production modules', () => {
    expect(instr('FROM')).toEqual(['${BUILD_IMAGE} AS build', '${RUNTIME_IMAGE}']);
    const copies = finalStage.filter((l) => l.startsWith('COPY '));
    expect(copies.every((l) => l.startsWith('COPY --from=build '))).toBe(true);
    expect(lines.some((l) => l.includes('npm prune --omit=dev'))).toBe(true);
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
