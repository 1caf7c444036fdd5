/**
 * docs/extending.md and the tables it describes stay in step (#29): every registered target (the agent's TARGETS,
 * synth's SYNTH_TARGETS) has its row there and every row a registered target; the agent's table covers exactly the
 * sections agent.yaml's schema has under `targets`; every file the page names exists.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TARGETS } from '../../agent/targets';
import { SYNTH_TARGETS } from '../../bin/commands/synth';
import { parseConfig } from '../../lib/core/contract/agent-config';

const ROOT = path.join(__dirname, '..', '..');
const DOC = fs.readFileSync(path.join(ROOT, 'docs/extending.md'), 'utf8');

/** The first-column keys of the table that follows the paragraph naming `table`. */
function tableKeys(table: string): string[] {
  const from = DOC.indexOf(`table \`${table}\``);
  expect(from).toBeGreaterThan(0);
  const lines = DOC.slice(from).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  return lines.slice(start + 2, end).map((l) => /^\| `([^`]+)`/.exec(l)?.[1]).filter((k): k is string => k !== undefined);
}

test('the agent\'s target table and the page list the same targets, and they are the sections of agent.yaml\'s targets', () => {
  expect(tableKeys('TARGETS').sort()).toEqual(TARGETS.map((t) => t.key).sort());
  // agent.yaml's schema refuses any other section under targets, and takes each of these
  for (const t of TARGETS) expect(() => parseConfig({ targets: { [t.key]: t.key === 'kubernetes' ? { namespace: 'ml' } : {} } })).not.toThrow();
  expect(() => parseConfig({ targets: { nomad: {} } })).toThrow(/nomad/);
});

test('synth\'s target table and the page list the same targets', () => {
  expect(tableKeys('SYNTH_TARGETS').sort()).toEqual(Object.keys(SYNTH_TARGETS).sort());
});

test('every file and folder the page names exists', () => {
  const named = [...DOC.matchAll(/`((?:lib|agent|bin|test|docs)\/[^`<>\s]+?)`/g)].map((m) => m[1].replace(/ \(.*$/, ''));
  expect(named.length).toBeGreaterThan(10);
  const missing = named.filter((p) => !fs.existsSync(path.join(ROOT, p)));
  expect(missing).toEqual([]);
});
