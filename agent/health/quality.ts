/**
 * The quality gate's replay (lib/core/quality.ts has the settings and the verdict): every sample of the golden set
 * is sent to the new version at its own address before it takes users' traffic — on Docker blue/green while it is
 * still out of HAProxy's rotation — and, for `agreement`, to the serving version too. A version that answers with
 * 200 and wrong predictions is rolled back without a user seeing it.
 */
import { ImageRef } from '../../lib/core/image-ref';
import { valueAt } from '../../lib/core/key-path';
import { GoldenSet, QualitySettings, qualityVerdict, sameAnswer } from '../../lib/core/quality';
import { HttpRequester, httpRequest } from '../http-client';
import type { HealthResult, Logger, UpdatePlan } from '../types';
import { nullLogger } from '../types';

/** Where the new version (and the one it replaces) answer directly, before the new one takes users' traffic. */
export interface Endpoints {
  /** Base URL of the new version, e.g. `http://127.0.0.1:8081`. */
  readonly url: string;
  /** Base URL of the serving version, when the target knows it. */
  readonly previousUrl?: string;
}

/** A check the target runs once the new version is ready and before it takes traffic. */
export type BeforeTraffic = (at: Endpoints, signal?: AbortSignal) => Promise<HealthResult>;

/** One model's quality gate: its settings and its golden set, read when the agent starts. */
export interface ModelQuality {
  readonly settings: QualitySettings;
  readonly set: GoldenSet;
}

export interface QualityCheckOptions {
  /** The gate of an image repository (`registry/repository`, as agent.yaml's images[].repository), or undefined. */
  readonly qualityFor: (repository: string) => ModelQuality | undefined;
  /** health.confidence */
  readonly confidence: number;
  readonly logger?: Logger;
  /** @default httpRequest */
  readonly request?: HttpRequester;
}

export class QualityCheck {
  public readonly name = 'quality';

  constructor(private readonly o: QualityCheckOptions) {}

  /** The check of the image this plan rolls out, or undefined when its repository has no quality gate. */
  public forPlan(plan: UpdatePlan): BeforeTraffic | undefined {
    const ref = ImageRef.tryParse(plan.to, { allowMutableTag: true });
    const q = ref && this.o.qualityFor(ref.name);
    return q && ((at, signal) => this.replay(q, at, signal));
  }

  /** Replays `q`'s golden set at `at` and judges the answers (the agent through {@link forPlan}; `modelpilot eval` directly). */
  public async replay({ settings: s, set }: ModelQuality, at: Endpoints, signal?: AbortSignal): Promise<HealthResult> {
    const what = `golden set ${set.source} ${set.digest.slice(0, 19)}… (${set.samples.length} samples) on ${at.url}`;
    if (s.metric === 'agreement' && !at.previousUrl) {
      return { status: 'Unhealthy', reason: `${what}: agreement needs the serving version's address, which the target does not know; use accuracy` };
    }
    const send = this.o.request ?? httpRequest;
    const answer = async (base: string, input: unknown): Promise<unknown> => {
      try {
        const res = await send({ url: `${base}${s.path}`, method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify(input), timeoutMs: s.timeoutMs, signal });
        return res.ok ? valueAt(JSON.parse(res.text()), s.prediction.split('.')) : undefined;
      } catch {
        return undefined; // no answer is a wrong answer
      }
    };
    const usable = set.samples.filter((x) => s.metric === 'agreement' || x.expected !== undefined);
    let n = 0;
    let matches = 0;
    let worst = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < usable.length && !signal?.aborted) {
        const sample = usable[next++];
        const got = await answer(at.url, sample.input);
        const expected = s.metric === 'agreement' ? await answer(at.previousUrl!, sample.input) : sample.expected;
        n++;
        if (s.metric === 'maxAbsoluteError') {
          const err = typeof got === 'number' && typeof expected === 'number' ? Math.abs(got - expected) : Infinity;
          worst = Math.max(worst, err);
          if (err <= s.threshold) matches++;
        } else if (sameAnswer(got, expected)) {
          matches++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(s.concurrency, usable.length) }, worker));
    if (signal?.aborted) return { status: 'Inconclusive', reason: `${what}: interrupted after ${n} sample(s)` };
    const v = qualityVerdict(s, { n, matches, worst }, this.o.confidence, what);
    (this.o.logger ?? nullLogger).info('quality gate', { status: v.status, reason: v.reason });
    return { ...v, goldenSet: { source: set.source, digest: set.digest, samples: set.samples.length } };
  }
}
