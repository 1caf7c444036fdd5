/**
 * `modelpilot eval`: the agent's quality gate run by hand against the reference model server (in-process, 127.0.0.1)
 * serving real models trained by train.ts — the reference passes, the shuffled-labels one fails with exit 1; every bad
 * option is a usage error naming the flag, the value and the fix.
 */
import { run } from '../../bin/commands/eval';
import { capture } from '../support/cli';
import { GOLDEN_FILE as GOLDEN, startTrainedServers, TrainedServers } from '../support/trained-servers';

let servers: TrainedServers;
const url: Record<string, string> = {};

beforeAll(async () => {
  servers = await startTrainedServers(['reference', 'shuffled-labels']);
  Object.assign(url, servers.url);
});

afterAll(() => servers?.stop());

const base = ['--golden-set', GOLDEN, '--threshold', '0.65', '--prediction', 'prediction.label'];

test('the reference model passes (exit 0), the shuffled-labels model fails (exit 1), each with the verdict', async () => {
  const ok = await capture(() => run([...base, '--url', url.reference]));
  expect(ok.code).toBe(0);
  expect(ok.out).toMatch(/^PASS: golden set churn\.jsonl sha256:[0-9a-f]{12}… \(400 samples\) on http:\/\/127\.0\.0\.1:\d+: accuracy 0\.72\d* \(289\/400/);
  const bad = await capture(() => run([...base, '--url', url['shuffled-labels'], '--json']));
  expect(bad.code).toBe(1);
  expect(JSON.parse(bad.out)).toMatchObject({ pass: false, evidence: { qualityMatches: 200, qualitySamples: 400 }, goldenSet: { samples: 400 } });
});

test('agreement with a serving version', async () => {
  const r = await capture(() => run([...base, '--metric', 'agreement', '--threshold', '0.9', '--url', url['shuffled-labels'], '--previous-url', url.reference]));
  expect(r.code).toBe(1);
  expect(r.out).toMatch(/FAIL: .*agreement 0\.6\d* .* below the floor 0\.9/);
});

test.each([
  ["'--golden-set' is missing", ['--url', 'http://127.0.0.1:1']],
  ["'--threshold' is missing", ['--golden-set', GOLDEN, '--url', 'http://127.0.0.1:1']],
  ["'--url' value 'ftp://x'", [...base, '--url', 'ftp://x']],
  ["'--threshold' value 'high' is not a number", [...base, '--url', 'http://127.0.0.1:1', '--threshold', 'high']],
  ["'--threshold' value 7 must be a ratio in (0, 1] for accuracy, such as 0.7", [...base, '--url', 'http://127.0.0.1:1', '--threshold', '7']],
  ["'--metric' value 'f1' must be one of 'accuracy', 'agreement', 'maxAbsoluteError'", [...base, '--url', 'http://127.0.0.1:1', '--metric', 'f1']],
  ['has 400 sample(s) usable for accuracy, fewer than --min-samples 1000', [...base, '--url', 'http://127.0.0.1:1', '--min-samples', '1000']],
  ["'--golden-set'", ['--golden-set', '/nope.jsonl', '--threshold', '0.7', '--url', 'http://127.0.0.1:1']],
])('usage error: %s', async (message, argv) => {
  const r = await capture(() => run(argv));
  expect(r.code).toBe(2);
  expect(r.err).toContain(message);
});
