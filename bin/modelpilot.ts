#!/usr/bin/env node
/**
 * The `modelpilot` CLI. Thin dispatch only: each subcommand lives in bin/commands/<name>.ts and exports
 * `run(argv: string[]): Promise<number>` (the exit code). Its one-line summary is in COMMANDS below, so that the
 * usage text needs no command module loaded.
 */
import * as fs from 'fs';
import * as path from 'path';

const COMMANDS: Record<string, string> = {
  synth: 'synthesize a stack (default: the built-in recommendation-model demo) into validated YAML',
  validate: 'validate Kubernetes manifests against their schemas',
  'test-rules': 'check and unit-test every generated Prometheus rule group with promtool',
  agent: 'run the updater agent (watch, roll out, verify, roll back)',
  quarantine: 'list, add or release quarantined model versions',
  hold: "hold a model's automatic updates (until a time or released)",
  pin: 'pin a model to exactly one version (the agent moves it there)',
  history: 'print the agent audit log as a timeline',
  'registry-credentials': "generate the in-cluster registry's credentials (htpasswd and pull Secrets)",
  pipeline: 'write a CI release pipeline for a model image (github | gitlab)',
  eval: "replay a golden set against a model server and judge its answers (the agent's quality gate)",
};

interface Command {
  run(argv: string[]): Promise<number>;
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return ['usage: modelpilot <command> [options]', '', 'commands:',
    ...Object.entries(COMMANDS).map(([c, s]) => `  ${c.padEnd(width)}  ${s}`), '',
    'Run `modelpilot <command> --help` for a command\'s options; `modelpilot --version` prints the version.'].join('\n');
}

/** This package's version: the package.json beside the sources (bin/..), the build (build/bin/../..) or the image (/app). */
export function version(): string {
  for (const dir of [path.join(__dirname, '..'), path.join(__dirname, '..', '..')]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name?.startsWith('modelpilot') && pkg.version) return pkg.version;
    } catch {
      // next
    }
  }
  return 'unknown';
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`modelpilot ${version()}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  if (!(name in COMMANDS)) {
    process.stderr.write(`modelpilot: unknown command '${name}'; one of: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  const mod = require(path.join(__dirname, 'commands', name)) as Command;
  return mod.run(rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`modelpilot: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
