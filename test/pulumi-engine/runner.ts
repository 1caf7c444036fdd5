/**
 * The child process of `runProgram` (engine.ts): runs one program module on the real engine through the Automation
 * API resolved from the program's own directory, performs the requested operations in order (stopping at the first
 * failure) and prints one line `MODELPILOT-RESULT <json>`.
 */
import * as path from 'path';

interface Spec {
  stackName: string; program: string; config: Record<string, { value: string; secret?: boolean }>;
  ops: Array<'preview' | 'up' | 'destroy'>; home: string; envVars: Record<string, string>; pulumiRoot: string; projectName: string;
  projectSettings?: Record<string, unknown>;
}

type Automation = typeof import('@pulumi/pulumi/automation');

/** The engine's progress, on stderr: the parent shows its tail when a run fails or times out. */
const progress = (s: string): void => { process.stderr.write(s); };

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as Spec;
  const program = path.resolve(spec.program);
  const auto = require(require.resolve('@pulumi/pulumi/automation', { paths: [path.dirname(program)] })) as Automation;
  const inline = async (): Promise<Record<string, unknown>> => {
    delete require.cache[require.resolve(program)];
    return { ...(require(program) as Record<string, unknown>) };
  };
  const pulumiCommand = await auto.PulumiCommand.get({ root: spec.pulumiRoot, skipVersionCheck: true });
  const stack = await auto.LocalWorkspace.createOrSelectStack({ stackName: spec.stackName, projectName: spec.projectName, program: inline },
    { pulumiCommand, envVars: spec.envVars, workDir: spec.home,
      ...(spec.projectSettings ? { projectSettings: { ...spec.projectSettings, name: spec.projectName, main: undefined } as never } : {}) });
  await stack.setAllConfig(spec.config);
  const results: unknown[] = [];
  for (const op of spec.ops) {
    const t0 = Date.now();
    try {
      let summary: { resourceChanges?: Record<string, number> } | undefined;
      let outputs: Record<string, unknown> = {};
      if (op === 'preview') summary = { resourceChanges: (await stack.preview({ onOutput: progress })).changeSummary as Record<string, number> };
      else if (op === 'up') {
        const r = await stack.up({ onOutput: progress });
        summary = r.summary;
        outputs = Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, v.secret ? '[secret]' : v.value]));
      } else summary = (await stack.destroy({ onOutput: progress })).summary;
      const changes = Object.fromEntries(Object.entries(summary?.resourceChanges ?? {}).filter(([k]) => k !== 'same'));
      results.push({ op, ok: true, changes, outputs, error: '', ms: Date.now() - t0 });
    } catch (e) {
      const err = e as { stderr?: string; message?: string };
      results.push({ op, ok: false, changes: {}, outputs: {}, error: `${err.stderr ?? ''}\n${err.message ?? String(e)}`, ms: Date.now() - t0 });
      break;
    }
  }
  process.stdout.write(`\nMODELPILOT-RESULT ${JSON.stringify(results)}\n`);
}

// a failing program's error is also raised in this process; the operation's result already carries it
process.on('unhandledRejection', () => undefined);
process.on('uncaughtException', () => undefined);
main().then(() => process.exit(0), (e: unknown) => {
  process.stderr.write(`runner: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
