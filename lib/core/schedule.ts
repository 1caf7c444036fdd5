/**
 * Watchtower-style schedules: 6-field cron expressions, seconds first (`0 0 4 * * *` = 04:00 every day), read by
 * cron-parser. Shared by the agent's config schema and its schedule trigger.
 */
import { CronExpressionParser } from 'cron-parser';

/** Why `expr` is not a 6-field cron expression, or undefined when it is one. */
export function scheduleProblem(expr: string): string | undefined {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 6) {
    return `has ${fields.length} field(s); write 6, seconds first, as Watchtower does: '0 0 4 * * *' is 04:00 every day`;
  }
  try {
    CronExpressionParser.parse(expr, { strict: false });
    return undefined;
  } catch (e) {
    return `is not a cron expression (${(e as Error).message}); write 6 fields, seconds first, e.g. '0 */15 * * * *'`;
  }
}

/** The first time `expr` fires after `from`. */
export function nextScheduled(expr: string, from: Date): Date {
  return CronExpressionParser.parse(expr, { currentDate: from, strict: false }).next().toDate();
}
