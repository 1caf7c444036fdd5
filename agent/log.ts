/** Structured logs: one JSON object per line (`{"time":…,"level":…,"msg":…,…fields}`). */
import type { Logger } from './types';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = typeof LEVELS[number];

/** A logger writing JSON lines to `out` (stdout by default), dropping entries below `level`. */
export function jsonLogger(level: LogLevel = 'info', out: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const min = LEVELS.indexOf(level);
  const write = (lvl: LogLevel) => (msg: string, fields: Record<string, unknown> = {}): void => {
    if (LEVELS.indexOf(lvl) < min) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg };
    for (const [k, v] of Object.entries(fields)) entry[k] = v instanceof Error ? v.message : v;
    out(JSON.stringify(entry) + '\n');
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
