/** Runs a CLI command (`() => run(argv)`) with stdout and stderr captured; returns its exit code and output. */
export async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const so = jest.spyOn(process.stdout, 'write').mockImplementation((s) => { out += String(s); return true; });
  const se = jest.spyOn(process.stderr, 'write').mockImplementation((s) => { err += String(s); return true; });
  try {
    return { code: await fn(), out, err };
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
}
