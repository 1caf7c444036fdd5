/**
 * The field schemas settings are declared with, once: agent.yaml's schema (agent-config.ts) and the Pulumi stack's
 * config (lib/pulumi/config.ts) are both built from these, so a rule (a duration's bounds, an MLflow alias, an
 * environment name) and its message are written in one place. No file I/O here.
 */
import { z } from 'zod';
import { Duration, parseDuration } from '../duration';
import { httpUrlProblem } from '../url';


/**
 * The longest delay a Node.js timer can hold (2^31 - 1 ms, about 24.8 days): a longer one fires at once, so a
 * `pollInterval` of 25 days would become a busy loop. Every duration of the agent's config is bounded by it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A duration string such as `30s`, `5m`, `1h30m` or `250ms`, read into a `Duration`; at most {@link MAX_TIMER_MS}. */
export function duration(min?: { ms: number; text: string }) {
  return z.string({ error: "must be a duration string such as '30s', '5m' or '1h30m'" }).transform((text, ctx) => {
    let d: Duration;
    try {
      d = parseDuration(text);
    } catch {
      ctx.issues.push({ code: 'custom', input: text, message: "is not a duration; write it like '30s', '5m', '1h30m' or '250ms'" });
      return z.NEVER;
    }
    if (min && d.toMilliseconds() < min.ms) {
      ctx.issues.push({ code: 'custom', input: text, message: min.ms === 1 ? "must be longer than 0; give for example '30s'" : `is shorter than ${min.text}; give at least '${min.text}'` });
      return z.NEVER;
    }
    if (d.toMilliseconds() > MAX_TIMER_MS) {
      ctx.issues.push({ code: 'custom', input: text, message: "is longer than the longest timer Node.js can set (about 24.8 days, which would fire at once); give at most '24d'" });
      return z.NEVER;
    }
    return d;
  });
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1000, mb: 1_000_000, kib: 1024, mib: 1024 * 1024 };

/** A size in bytes: a whole number, or a string such as `64KiB`, `1MiB`, `512kb`. */
export const size = z.union([z.number(), z.string()], { error: "must be a size such as '1MiB', '64KiB' or a number of bytes" })
  .transform((v, ctx) => {
    if (typeof v === 'number') {
      if (Number.isInteger(v) && v > 0) return v;
      ctx.issues.push({ code: 'custom', input: v, message: "must be a positive whole number of bytes, or a size such as '1MiB'" });
      return z.NEVER;
    }
    const m = /^\s*(\d+)\s*(b|kb|mb|kib|mib)?\s*$/i.exec(v);
    if (!m || Number(m[1]) <= 0) {
      ctx.issues.push({ code: 'custom', input: v, message: "is not a size; write it like '1MiB', '64KiB', '512kb' or a number of bytes" });
      return z.NEVER;
    }
    return Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()];
  });

/** A timeout: more than 0 (a 0s timeout fails every request). */
export const timeout = () => duration({ ms: 1, text: '1ms' });

/** An http(s) URL; other schemes (ftp:, file:) and scheme-less 'host:port' (read as scheme 'host:') are refused. */
export const httpUrl = (example: string) => z.string({ error: `must be a URL such as '${example}'` }).superRefine((text, ctx) => {
  const problem = httpUrlProblem(text, example, 'remove them from the URL', 'logged');
  if (problem) ctx.issues.push({ code: 'custom', input: text, message: problem });
});

export const nonEmpty = (what: string) => z.string({ error: `must be ${what}` }).trim().min(1, { error: `must not be empty; give ${what}` });

export const positiveInt = (what: string) => z.number({ error: `must be ${what}` }).int({ error: `must be a whole number; give ${what}` })
  .min(1, { error: `must be at least 1; give ${what}` });

export const hostPort = z.string({ error: "must be a listen address such as '0.0.0.0:8080' or ':8080'" })
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):\d{1,5}$/, { error: "is not a listen address; write it like '0.0.0.0:8080', '127.0.0.1:9090' or ':8080'" })
  .refine((v) => !/:\d{1,5}$/.test(v) || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, { error: 'has a port above 65535; give a port from 0 to 65535' });

/** An environment name as the attestations carry it (`staging`, `prod-eu`). */
export const environmentName = (what: string) => z.string({ error: `must be ${what}` })
  .regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, { error: "is not an environment name; use lower-case letters, digits, '.', '_' and '-', such as 'staging'" });

/**
 * MLflow's settings, without defaults or optionality (each place that takes one adds its own): the tracking server
 * and how an image follows a registered model.
 */
export const MLFLOW_FIELDS = {
  /** The tracking server. */
  url: httpUrl('http://mlflow:5000'),
  /** The registered model's name in MLflow. */
  registeredModel: nonEmpty("a registered model name such as 'recsys'"),
  /** Follow this alias (e.g. `champion`): the version it points at runs. Without it, the latest version runs. */
  alias: z.string({ error: "must be an alias such as 'champion'" }).regex(/^[A-Za-z0-9_-]{1,255}$/, {
    error: "is not an MLflow alias; use letters, digits, '_' and '-', such as 'champion'",
  }),
  /** The image tag of a model version: `{version}` and `{name}` are replaced (`{version}.0.0` → `3.0.0`). */
  imageTag: z.string({ error: "must be a tag template such as '{version}'" }).superRefine((t, ctx) => {
    if (!t.includes('{version}')) {
      ctx.issues.push({ code: 'custom', input: t, message: "has no '{version}'; every model version needs its own tag, e.g. '{version}' or 'v{version}'" });
    } else if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(t.replace(/\{(version|name)\}/g, 'x'))) {
      ctx.issues.push({ code: 'custom', input: t, message: "does not make a valid image tag; use letters, digits, '_', '.', '-' and '{version}' / '{name}'" });
    }
  }),
  /**
   * A model-version tag holding the image digest (`sha256:…`): the registry's digest for the tag must equal it, so
   * MLflow names exactly what runs. Without it, the registry's digest for the tag is taken.
   */
  digestTag: nonEmpty("a model-version tag key such as 'image_digest'"),
  /** Prefix of the model-version tags written back (`<prefix>.status`, `.reason`, `.workload`, `.image`, `.time`). */
  tagPrefix: z.string({ error: "must be a tag prefix such as 'modelpilot'" }).regex(/^[A-Za-z0-9_.-]{1,100}$/, {
    error: "is not a tag prefix; use letters, digits, '_', '.' and '-', such as 'modelpilot.prod'",
  }),
} as const;
