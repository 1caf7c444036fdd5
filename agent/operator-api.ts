/**
 * The operator API on the agent's HTTP server (bearer token only, like `/v1/update`): the same holds, pins and
 * quarantines as `modelpilot hold|pin|quarantine`, for tools that cannot reach the agent's state directory.
 *
 *   GET    /v1/overrides                         → { holds, pins, quarantined }
 *   POST   /v1/hold        {model, until?, reason?}   (until: ISO time)
 *   DELETE /v1/hold?model=…
 *   POST   /v1/pin         {model, version, reason?}
 *   DELETE /v1/pin?model=…
 *   POST   /v1/quarantine  {model, version, reason}
 *   DELETE /v1/quarantine?model=…&version=…
 *
 * Every change is written to the stores the loop re-reads each cycle and to the audit log.
 */
import { DNS_LABEL_RE } from '../lib/core/checks';
import { parseVersionTag, versionKeyProblem } from '../lib/core/image-ref';
import type { AuditLog } from './state/audit';
import type { OverrideStore } from './state/overrides';
import type { QuarantineStore } from './state/quarantine';
import type { Clock } from './types';

/** The routes of the operator API. */
export const OPERATOR_ROUTES = ['/v1/overrides', '/v1/hold', '/v1/pin', '/v1/quarantine'] as const;

export interface OperatorAnswer {
  readonly status: number;
  readonly body: unknown;
}

const MODEL_RE = DNS_LABEL_RE;

export class OperatorApi {
  constructor(
    private readonly overrides: OverrideStore,
    private readonly quarantine: QuarantineStore,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
  ) {}

  /** Answers one authenticated request. */
  public handle(method: string, path: string, query: URLSearchParams, body: Buffer): OperatorAnswer {
    try {
      this.overrides.reload();
      this.quarantine.reload();
    } catch (e) {
      return { status: 500, body: { error: (e as Error).message } };
    }
    if (path === '/v1/overrides') {
      if (method !== 'GET') return { status: 405, body: { error: 'use GET' } };
      return { status: 200, body: { ...this.overrides.list(), quarantined: this.quarantine.list() } };
    }
    const now = this.clock.now();
    if (method === 'DELETE') {
      const model = query.get('model') ?? '';
      if (!MODEL_RE.test(model)) return bad(`query 'model' value '${model}' is not a model name; e.g. ?model=recsys`);
      if (path === '/v1/hold') {
        const r = this.overrides.releaseHold(model);
        if (!r) return { status: 404, body: { error: `'${model}' is not held` } };
        this.audit.append({ time: now.toISOString(), event: 'released', target: '-', model, result: 'ok', reason: `hold released through the API (was: ${r.reason})` });
        return { status: 200, body: { released: r } };
      }
      if (path === '/v1/pin') {
        const r = this.overrides.unpin(model);
        if (!r) return { status: 404, body: { error: `'${model}' is not pinned` } };
        this.audit.append({ time: now.toISOString(), event: 'released', target: '-', model, result: 'ok', reason: `pin to ${r.version} released through the API` });
        return { status: 200, body: { released: r } };
      }
      const version = query.get('version') ?? '';
      const r = this.quarantine.release(model, version);
      if (!r) return { status: 404, body: { error: `'${model} ${version}' is not quarantined` } };
      this.audit.append({ time: now.toISOString(), event: 'released', target: '-', model, result: 'ok', reason: `${version} released through the API (was: ${r.reason})` });
      return { status: 200, body: { released: r } };
    }
    if (method !== 'POST') return { status: 405, body: { error: `${path} takes POST or DELETE` } };
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return bad('body is not JSON; send e.g. {"model": "recsys", "reason": "incident 4711"}');
    }
    if (!json || typeof json !== 'object' || Array.isArray(json)) return bad('body is not a JSON object');
    const model = json.model;
    if (typeof model !== 'string' || !MODEL_RE.test(model)) return bad(`field 'model' value ${JSON.stringify(model)} is not a model name; e.g. "recsys"`);
    const reason = json.reason === undefined ? undefined : String(json.reason).slice(0, 500);
    const since = now.toISOString();
    if (path === '/v1/hold') {
      let until: string | undefined;
      if (json.until !== undefined) {
        const t = typeof json.until === 'string' && /^\d{4}-\d\d-\d\dT/.test(json.until) ? Date.parse(json.until) : NaN;
        if (Number.isNaN(t)) return bad(`field 'until' value ${JSON.stringify(json.until)} is not an ISO time; e.g. "2026-12-24T00:00:00Z"`);
        if (t <= now.getTime()) return bad(`field 'until' value '${json.until}' is in the past`);
        until = new Date(t).toISOString();
      }
      const entry = { model, ...(until ? { until } : {}), reason: reason ?? 'held through the API', since, source: 'api' };
      this.overrides.hold(entry);
      this.audit.append({ time: since, event: 'hold', target: '-', model, result: 'api', reason: `held ${until ? `until ${until}` : 'until released'}: ${entry.reason}` });
      return { status: 201, body: { hold: entry } };
    }
    const version = json.version;
    if (typeof version !== 'string') return bad(`field 'version' value ${JSON.stringify(version)} is not a version tag; e.g. "1.3.0"`);
    // the CLI's check: a pin names a semantic version; a quarantine entry also a digest-policy key (tag@sha256:…)
    const problem = path === '/v1/pin' && versionKeyProblem(version) === undefined && !parseVersionTag(version)
      ? `'${version}' is not a semantic version tag; a pin names one, e.g. "1.3.0"` : versionKeyProblem(version);
    if (problem) return bad(`field 'version' value ${problem}`);
    if (path === '/v1/pin') {
      const entry = { model, version, reason: reason ?? 'pinned through the API', since, source: 'api' };
      this.overrides.pin(entry);
      this.audit.append({ time: since, event: 'pinned', target: '-', model, result: 'api', reason: `pinned to ${version}: ${entry.reason}` });
      return { status: 201, body: { pin: entry } };
    }
    if (!reason) return bad(`field 'reason' is missing; say why ${model} ${version} must not be applied`);
    const added = this.quarantine.add({ model, version, reason, since, source: 'api' });
    if (!added) return { status: 409, body: { error: `'${model} ${version}' is already quarantined` } };
    this.audit.append({ time: since, event: 'quarantined', target: '-', model, result: 'api', reason: `${version}: ${reason}` });
    return { status: 201, body: { quarantined: { model, version, reason, since, source: 'api' } } };
  }
}

function bad(error: string): OperatorAnswer {
  return { status: 400, body: { error } };
}
