import { findPromtool, formatTable, run, splitPromtoolOutput } from '../../bin/commands/test-rules';

async function capture(fn: () => Promise<number>): Promise<{ code: number; stderr: string }> {
  const chunks: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => { chunks.push(s); return true; }) as typeof process.stderr.write;
  try {
    return { code: await fn(), stderr: chunks.join('') };
  } finally {
    process.stderr.write = write;
  }
}

describe('modelpilot test-rules (no promtool needed)', () => {
  test('throws if promtool is missing, naming the install script', () => {
    expect(() => findPromtool({ PATH: '/nonexistent-dir' }))
      .toThrow('promtool was not found (not on PATH); install it with `bash scripts/install-test-tools.sh` (Debian package \'prometheus\')');
  });

  test('exits 2 with the install hint when PROMTOOL points nowhere', async () => {
    const saved = process.env.PROMTOOL;
    process.env.PROMTOOL = '/nonexistent/promtool';
    try {
      const { code, stderr } = await capture(() => run([]));
      expect(code).toBe(2);
      expect(stderr).toContain('scripts/install-test-tools.sh');
    } finally {
      if (saved === undefined) delete process.env.PROMTOOL; else process.env.PROMTOOL = saved;
    }
  });

  test('exits 2 on an unknown option and on --tests without files', async () => {
    expect((await capture(() => run(['--frobnicate']))).stderr).toContain('unknown option \'--frobnicate\'');
    const r = await capture(() => run(['app.ts', '--tests']));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('\'--tests\' needs at least one test file');
  });

  test('splits promtool output into per-file blocks', () => {
    const out = 'Unit Testing:  a.test.yml\n  SUCCESS\n\nUnit Testing:  b.test.yml\n  FAILED:\n    alertname: X\n';
    const blocks = splitPromtoolOutput(out, /^Unit Testing:\s+(.+)$/);
    expect(blocks.get('a.test.yml')).toContain('SUCCESS');
    expect(blocks.get('b.test.yml')).toContain('FAILED');
    expect(blocks.get('b.test.yml')).not.toContain('SUCCESS');
  });

  test('the table shows each row, the failure detail and the totals', () => {
    const table = formatTable([
      { kind: 'check', group: 'modelpilot-m', name: 'promtool check rules', ok: true, detail: '' },
      { kind: 'test', group: 'modelpilot-m', name: 'ModelTargetDown fires: 3 consecutive failed scrapes', ok: false, detail: 'FAILED:\n  got: []' },
    ]);
    expect(table).toContain('PASS    modelpilot-m  promtool check rules');
    expect(table).toContain('FAIL    modelpilot-m  ModelTargetDown fires: 3 consecutive failed scrapes');
    expect(table).toContain('          got: []');
    expect(table).toContain('1 passed, 1 failed');
  });
});
