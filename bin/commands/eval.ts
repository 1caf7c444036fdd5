/**
 * `modelpilot eval --golden-set <file.jsonl> --url <base URL> --threshold <n> […]`: replays a golden set against a
 * running model server and prints the quality verdict — the agent's quality gate (agent/health/quality.ts, the same
 * settings, rules and verdict), run by hand, from CI, or as a Job before a version takes traffic. Exit 0 when the
 * version passes, 1 when it does not, 2 on a usage error.
 */
import * as path from 'path';
import { readInputFile } from '../../agent/files';
import { QualityCheck } from '../../agent/health/quality';
import { ConfigError, parseQualitySettings } from '../../lib/core/contract/agent-config';
import { GoldenSet, QUALITY_METRICS, tooFewSamples } from '../../lib/core/quality';
import { checkHttpUrl } from '../../lib/core/url';
import { parseCommandArgs } from '../args';

const USAGE = `usage: modelpilot eval --golden-set <file.jsonl> --url <base URL> --threshold <n>
         [--metric ${QUALITY_METRICS.join('|')}] [--previous-url <base URL>] [--prediction <dotted.path>]
         [--path /predict] [--min-samples 30] [--concurrency 4] [--timeout 5s] [--confidence 0.95] [--json]

Replays every sample of the golden set ({"input": <request body>, "expected": <answer>} per line) against the model
server at --url (POST <url><path>) and judges what it answered, as the agent's quality gate does:
  accuracy          the answer at --prediction equals 'expected'; passes when the Wilson lower bound >= --threshold
  agreement         the answer equals the one --previous-url gives for the same input; same rule
  maxAbsoluteError  every numeric answer within --threshold of 'expected'
Exit 0: passes; 1: does not (or the set is too small to tell); 2: usage error.
`;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, {
    'golden-set': { type: 'string', needs: 'a JSON-lines file' }, url: { type: 'string', needs: 'a base URL such as http://127.0.0.1:8080' },
    'previous-url': { type: 'string', needs: 'a base URL' }, metric: { type: 'string', needs: `one of ${QUALITY_METRICS.join(', ')}` },
    threshold: { type: 'string', needs: 'a number such as 0.7' }, prediction: { type: 'string', needs: "a dotted path such as 'prediction.label'" },
    path: { type: 'string', needs: "a path such as '/predict'" }, 'min-samples': { type: 'string', needs: 'a number such as 100' },
    concurrency: { type: 'string', needs: 'a number such as 4' }, timeout: { type: 'string', needs: "a duration such as '5s'" },
    confidence: { type: 'string', needs: 'a probability such as 0.95' }, json: { type: 'boolean' },
  });
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const v = args.values;
  for (const required of ['golden-set', 'url', 'threshold'] as const) {
    if (v[required] === undefined) return usageError(`'--${required}' is missing`);
  }
  for (const key of ['url', 'previous-url'] as const) {
    try {
      if (v[key] !== undefined) checkHttpUrl(`--${key}`, v[key]!, 'http://127.0.0.1:8080');
    } catch (e) {
      return usageError((e as Error).message);
    }
  }
  const num = (flag: string, text: string | undefined): number | undefined | string => {
    if (text === undefined) return undefined;
    const n = Number(text);
    return text.trim() !== '' && Number.isFinite(n) ? n : `'--${flag}' value '${text}' is not a number`;
  };
  const numbers = { threshold: num('threshold', v.threshold), minSamples: num('min-samples', v['min-samples']),
    concurrency: num('concurrency', v.concurrency), confidence: num('confidence', v.confidence) };
  const bad = Object.values(numbers).find((n) => typeof n === 'string');
  if (bad) return usageError(bad as string);
  const confidence = (numbers.confidence as number | undefined) ?? 0.95;
  if (!(confidence >= 0.5 && confidence <= 0.999)) return usageError(`'--confidence' value ${confidence} must be between 0.5 and 0.999`);
  const file = v['golden-set']!;
  let settings;
  let set: GoldenSet;
  try {
    settings = parseQualitySettings({
      goldenSet: path.resolve(file), threshold: numbers.threshold,
      ...(v.metric !== undefined ? { metric: v.metric } : {}), ...(v.prediction !== undefined ? { prediction: v.prediction } : {}),
      ...(v.path !== undefined ? { path: v.path } : {}), ...(numbers.minSamples !== undefined ? { minSamples: numbers.minSamples } : {}),
      ...(numbers.concurrency !== undefined ? { concurrency: numbers.concurrency } : {}), ...(v.timeout !== undefined ? { timeout: v.timeout } : {}),
    }, 'the options');
    set = GoldenSet.parse(readInputFile(file, { field: '--golden-set', fix: 'give the golden set (JSON lines)', maxBytes: 64 * 1024 * 1024 }),
      file.split('/').pop()!);
  } catch (e) {
    const msg = e instanceof ConfigError ? e.problems.map((p) => p.replace(/^'(\w+)'/, (_m, k: string) => `'--${flagOf(k)}'`)).join('; ') : (e as Error).message;
    return usageError(msg);
  }
  const few = tooFewSamples(set, settings.metric, settings.minSamples, '--min-samples');
  if (few) return usageError(`'--golden-set' ${file} ${few}`);
  const started = Date.now();
  const at = { url: v.url!.replace(/\/+$/, ''), ...(v['previous-url'] ? { previousUrl: v['previous-url'].replace(/\/+$/, '') } : {}) };
  const r = await new QualityCheck({ qualityFor: () => undefined, confidence }).replay({ settings, set }, at);
  if (v.json) {
    process.stdout.write(`${JSON.stringify({ pass: r.status === 'Healthy', reason: r.reason, evidence: r.evidence, goldenSet: r.goldenSet, seconds: (Date.now() - started) / 1000 }, null, 2)}\n`);
  } else {
    process.stdout.write(`${r.status === 'Healthy' ? 'PASS' : 'FAIL'}: ${r.reason}\n`);
  }
  return r.status === 'Healthy' ? 0 : 1;
}

/** The flag of a settings key (`minSamples` → `min-samples`). */
function flagOf(key: string): string {
  return key === 'goldenSet' ? 'golden-set' : key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function usageError(msg: string): number {
  process.stderr.write(`modelpilot eval: ${msg}\n\n${USAGE}`);
  return 2;
}
