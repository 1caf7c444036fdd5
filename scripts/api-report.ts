/**
 * The API report: every name each package entry point exports, with its kind, one per line, from the TypeScript
 * checker. `npm run api:update` writes api/<entry>.api.txt; test/api.test.ts fails when the surface differs from
 * the checked-in report, so any change to the public API is a visible diff in review.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..');

/** Entry point (the `exports` key) → its source. */
export const ENTRY_POINTS: Record<string, string> = {
  modelpilot: 'lib/index.ts',
  'modelpilot-pulumi': 'lib/pulumi/index.ts',
  'modelpilot-agent': 'agent/index.ts',
};

function kindOf(symbol: ts.Symbol, checker: ts.TypeChecker): string {
  const s = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const f = s.flags;
  const kinds: string[] = [];
  if (f & ts.SymbolFlags.Class) kinds.push('class');
  if (f & ts.SymbolFlags.Enum) kinds.push('enum');
  if (f & ts.SymbolFlags.Function) kinds.push('function');
  if (f & ts.SymbolFlags.Variable) kinds.push('const');
  if (f & ts.SymbolFlags.Interface) kinds.push('interface');
  if (f & ts.SymbolFlags.TypeAlias) kinds.push('type');
  return kinds.join('+') || 'other';
}

/** The report text of every entry point. */
export function apiReports(): Record<string, string> {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.build.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
  const files = Object.values(ENTRY_POINTS).map((f) => path.join(ROOT, f));
  const program = ts.createProgram(files, config.options);
  const checker = program.getTypeChecker();
  const out: Record<string, string> = {};
  for (const [entry, file] of Object.entries(ENTRY_POINTS)) {
    const sf = program.getSourceFile(path.join(ROOT, file))!;
    const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(sf)!);
    const lines = exports.map((s) => `${s.getName()}: ${kindOf(s, checker)}`).sort((a, b) => a.localeCompare(b, 'en'));
    out[entry] = `# exports of '${entry.replace('modelpilot-', 'modelpilot/')}' (${file}); regenerate with npm run api:update\n${lines.join('\n')}\n`;
  }
  return out;
}

if (require.main === module) {
  for (const [entry, text] of Object.entries(apiReports())) {
    fs.writeFileSync(path.join(ROOT, 'api', `${entry}.api.txt`), text);
    process.stdout.write(`api/${entry}.api.txt: ${text.split('\n').length - 2} exports\n`);
  }
}
