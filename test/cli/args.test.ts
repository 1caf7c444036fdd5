import { parseCommandArgs } from '../../bin/args';

const OPTIONS = {
  config: { type: 'string', short: 'c', needs: "a file, e.g. '--config agent.yaml'" },
  allow: { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const;

describe('parseCommandArgs', () => {
  test('reads --flag value, --flag=value, short flags, repeated and boolean options and positionals', () => {
    const r = parseCommandArgs(['-c', 'a.yaml', '--allow=x', 'file', '--allow', 'y', '--json', '--config=b.yaml'], OPTIONS, true);
    expect(r).toEqual({ values: { config: 'b.yaml', allow: ['x', 'y'], json: true }, positionals: ['file'] });
  });

  test('a value that looks like an option is still the value', () => {
    expect(parseCommandArgs(['--config', '--json'], OPTIONS)).toEqual({ values: { config: '--json' }, positionals: [] });
  });

  test('--help or -h before any problem asks for the usage', () => {
    expect(parseCommandArgs(['--json', '-h', '--bogus'], OPTIONS)).toEqual({ help: true });
    expect(parseCommandArgs(['--bogus', '--help'], OPTIONS)).toEqual({ error: "unknown option '--bogus'" });
  });

  test.each([
    [['--bogus=1'], "unknown option '--bogus=1'"],
    [['-xz'], "unknown option '-xz'"],
    [['--json=yes'], "unknown option '--json=yes'"],
    [['--', 'a'], "unknown option '--'"],
    [['stray'], "unknown option 'stray'"],
    [['--config'], "'--config' needs a file, e.g. '--config agent.yaml'"],
    [['-c', ''], "'--config' needs a file, e.g. '--config agent.yaml'"],
    [['--allow'], "'--allow' needs a value"],
  ])('throws if %j: %s', (argv, error) => {
    expect(parseCommandArgs(argv, OPTIONS)).toEqual({ error });
  });
});

describe('modelpilot --version', () => {
  test.each(['--version', '-v', 'version'])('%s prints the package version and exits 0', async (flag) => {
    const { main } = await import('../../bin/modelpilot');
    const pkg = JSON.parse(require('fs').readFileSync(require('path').join(__dirname, '../../package.json'), 'utf8')) as { version: string };
    const { capture } = await import('../support/cli');
    const r = await capture(() => main([flag]));
    expect(r).toEqual({ code: 0, out: `modelpilot ${pkg.version}\n`, err: '' });
  });
});
