/**
 * Webhook parsers and authentication. Pure functions from (headers, raw body) to `TriggerEvent`s, so the HTTP
 * server in `agent/http.ts` stays a thin router and every parser is testable without a socket.
 *
 * Repositories in emitted events are repository paths without the registry host (`models/recsys`, as in
 * `ImageRef.repository`): the host a pusher used (`request.host`) need not be the one the agent pulls from.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ACTION_LABEL, ROLLBACK_ACTION } from '../../lib/core/contract/names';
import { ImageRef } from '../../lib/core/image-ref';
import type { TriggerEvent } from '../types';

/** The routes that take webhooks, and the `TriggerEvent.source` each emits. */
export const WEBHOOK_ROUTES = {
  '/webhooks/registry': 'webhook:registry',
  '/webhooks/model': 'webhook:model',
  '/webhooks/mlflow': 'webhook:mlflow',
  '/webhooks/alertmanager': 'webhook:alertmanager',
  '/v1/update': 'webhook:v1-update',
} as const;

export type WebhookRoute = keyof typeof WEBHOOK_ROUTES;

/** How webhooks prove who sent them. At least one of `bearerToken` / `hmacSecret` must be set. */
export interface WebhookAuthOptions {
  /** Accept `Authorization: Bearer <token>`. The only way into `POST /v1/update` (as in Watchtower). */
  readonly bearerToken?: string;
  /**
   * Accept `X-Modelpilot-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` with
   * `X-Modelpilot-Timestamp: <unix seconds>`; on `/webhooks/mlflow` also MLflow's own
   * `X-MLflow-Signature: v1,<base64 HMAC of "<delivery-id>.<timestamp>.<body>">`.
   */
  readonly hmacSecret?: string;
  /** Largest difference between a signed timestamp and now, against replays. @default 300 */
  readonly maxSignatureAgeSeconds?: number;
}

/** A refused webhook: nothing is emitted, the status and message go back to the sender. */
export class WebhookError extends Error {
  constructor(public readonly status: number, message: string) {
    super(message);
    this.name = 'WebhookError';
  }
}

/** Result of a webhook: events to emit (possibly none, e.g. a pull notification), and why. */
export interface WebhookResult {
  readonly events: TriggerEvent[];
  readonly note?: string;
}

/** The marker label an Alertmanager alert carries when it should roll its model version back. */
export const ROLLBACK_LABEL = ACTION_LABEL;
export const ROLLBACK_VALUE = ROLLBACK_ACTION;

/** Throws if no authentication is configured: every webhook must be authenticated. */
export function validateWebhookAuth(auth: WebhookAuthOptions): void {
  if (!auth.bearerToken && !auth.hmacSecret) {
    throw new Error("webhooks have no authentication: set 'webhooks.bearerTokenFile' and/or 'webhooks.hmacSecretFile' (every webhook must be authenticated)");
  }
  for (const [field, v] of [['bearerTokenFile', auth.bearerToken], ['hmacSecretFile', auth.hmacSecret]] as const) {
    if (v !== undefined && v.length < 16) {
      throw new Error(`the secret in 'webhooks.${field}' is ${v.length} characters long; use at least 16 random characters (e.g. 'openssl rand -hex 32')`);
    }
  }
}

/** Timing-safe string equality (hashing first, so lengths leak nothing either). */
function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** What the headers alone show about a request's credentials, before any of its body is read. */
export type PreAuth =
  | { readonly kind: 'bearer' }
  /** An HMAC signature to verify against the body, and the fingerprint it is remembered by (against replays). */
  | { readonly kind: 'signed'; readonly fingerprint: string };

/**
 * The check that needs no body: a valid bearer token, or a well-formed signature whose timestamp is inside the
 * window. Anything else is refused here, so an unauthenticated sender never gets its body read.
 * @throws WebhookError 401
 */
export function preAuthenticate(
  route: WebhookRoute, headers: Record<string, string | string[] | undefined>, auth: WebhookAuthOptions, nowMs: number = Date.now(),
): PreAuth {
  const authorization = header(headers, 'authorization');
  if (auth.bearerToken && authorization !== undefined) {
    const m = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (m && safeEqual(m[1], auth.bearerToken)) return { kind: 'bearer' };
  }
  if (route === '/v1/update') {
    throw new WebhookError(401, auth.bearerToken ? 'missing or wrong bearer token' : 'POST /v1/update needs a bearer token; set \'webhooks.bearerTokenFile\'');
  }
  const maxAge = auth.maxSignatureAgeSeconds ?? 300;
  if (auth.hmacSecret) {
    const sig = header(headers, 'x-modelpilot-signature');
    if (sig !== undefined) {
      if (!/^sha256=[0-9a-fA-F]{64}$/.test(sig.trim())) {
        throw new WebhookError(401, 'X-Modelpilot-Signature is not \'sha256=<64 hex digits>\'');
      }
      checkTimestamp('X-Modelpilot-Timestamp', header(headers, 'x-modelpilot-timestamp'), maxAge, nowMs,
        "sign '<timestamp>.<raw body>' and send the timestamp (unix seconds) as X-Modelpilot-Timestamp");
      return { kind: 'signed', fingerprint: `modelpilot:${sig.trim().toLowerCase()}` };
    }
    if (route === '/webhooks/mlflow' && header(headers, 'x-mlflow-signature') !== undefined) {
      const id = header(headers, 'x-mlflow-delivery-id');
      if (!id) throw new WebhookError(401, 'MLflow signature needs X-MLflow-Delivery-Id and a numeric X-MLflow-Timestamp');
      checkTimestamp('X-MLflow-Timestamp', header(headers, 'x-mlflow-timestamp'), maxAge, nowMs, 'MLflow signature needs X-MLflow-Delivery-Id and a numeric X-MLflow-Timestamp');
      return { kind: 'signed', fingerprint: `mlflow:${id}` };
    }
  }
  throw new WebhookError(401, 'missing or wrong credentials: send \'Authorization: Bearer <token>\' or \'X-Modelpilot-Signature: sha256=<hex>\' with \'X-Modelpilot-Timestamp\'');
}

function checkTimestamp(name: string, ts: string | undefined, maxAgeSeconds: number, nowMs: number, fix: string): void {
  if (ts === undefined || !/^\d{1,12}$/.test(ts.trim())) throw new WebhookError(401, `${name} is ${ts === undefined ? 'missing' : `'${ts}', not unix seconds`}; ${fix}`);
  if (Math.abs(nowMs / 1000 - Number(ts)) > maxAgeSeconds) {
    throw new WebhookError(401, `${name} ${ts.trim()} is more than ${maxAgeSeconds}s from now; refusing a possible replay (re-sign with the current time)`);
  }
}

/**
 * Checks a request's credentials. `/v1/update` takes only the bearer token; the other routes take the bearer token
 * or an HMAC signature of the timestamp and the raw body.
 * @throws WebhookError 401 when nothing valid is presented
 */
export function authenticate(
  route: WebhookRoute, headers: Record<string, string | string[] | undefined>, body: Buffer, auth: WebhookAuthOptions, nowMs: number = Date.now(),
): string {
  const pre = preAuthenticate(route, headers, auth, nowMs);
  if (pre.kind === 'bearer') return 'bearer';
  const secret = auth.hmacSecret!;
  const sig = header(headers, 'x-modelpilot-signature');
  if (sig !== undefined) {
    const ts = header(headers, 'x-modelpilot-timestamp')!.trim();
    const expected = createHmac('sha256', secret).update(`${ts}.`).update(body).digest();
    if (timingSafeEqual(Buffer.from(sig.trim().slice(7).toLowerCase(), 'hex'), expected)) return 'hmac';
    throw new WebhookError(401, 'X-Modelpilot-Signature does not match; sign \'<X-Modelpilot-Timestamp>.<exact raw body>\' with HMAC-SHA256 as \'sha256=<hex>\'');
  }
  verifyMlflowSignature(headers, body, secret, auth.maxSignatureAgeSeconds ?? 300, nowMs);
  return 'mlflow-hmac';
}

function verifyMlflowSignature(
  headers: Record<string, string | string[] | undefined>, body: Buffer, secret: string, maxAgeSeconds: number, nowMs: number,
): void {
  const sig = header(headers, 'x-mlflow-signature') ?? '';
  const id = header(headers, 'x-mlflow-delivery-id');
  const ts = header(headers, 'x-mlflow-timestamp');
  if (!id || !ts || !/^\d+$/.test(ts)) throw new WebhookError(401, 'MLflow signature needs X-MLflow-Delivery-Id and a numeric X-MLflow-Timestamp');
  if (Math.abs(nowMs / 1000 - Number(ts)) > maxAgeSeconds) {
    throw new WebhookError(401, `X-MLflow-Timestamp ${ts} is more than ${maxAgeSeconds}s from now; refusing a possible replay`);
  }
  const expected = createHmac('sha256', secret).update(`${id}.${ts}.`).update(body).digest();
  for (const part of sig.split(/\s+/)) {
    const m = /^v1,([A-Za-z0-9+/=]+)$/.exec(part);
    if (!m) continue;
    const got = Buffer.from(m[1], 'base64');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return;
  }
  throw new WebhookError(401, 'X-MLflow-Signature does not match the body');
}

/** Parses a JSON body or throws a 400 naming the route. */
export function parseJson(route: string, body: Buffer): unknown {
  if (body.length === 0) throw new WebhookError(400, `${route}: empty body; send a JSON document`);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new WebhookError(400, `${route}: body is not valid JSON (${(e as Error).message})`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function requireString(obj: Record<string, unknown>, field: string, route: string): string {
  const v = obj[field];
  if (typeof v !== 'string' || v.trim() === '') {
    throw new WebhookError(400, `${route}: field '${field}' is ${JSON.stringify(v)}; give a non-empty string`);
  }
  return v.trim();
}

/**
 * Distribution registry notifications: an envelope `{"events": [...]}` where a push of a tagged manifest has
 * `action: "push"`, `target.repository`, `target.tag`, `target.digest`. Pulls, blob pushes and untagged pushes
 * are ignored (200, nothing emitted).
 */
export function parseRegistryNotification(json: unknown): WebhookResult {
  const route = '/webhooks/registry';
  if (!isObject(json) || !Array.isArray(json.events)) {
    throw new WebhookError(400, `${route}: expected a notification envelope {"events": [...]}`);
  }
  const repos = new Set<string>();
  json.events.forEach((ev, i) => {
    if (!isObject(ev)) throw new WebhookError(400, `${route}: 'events[${i}]' is not an object`);
    if (ev.action !== 'push') return;
    const target = ev.target;
    if (!isObject(target)) throw new WebhookError(400, `${route}: 'events[${i}].target' is missing`);
    if (typeof target.tag !== 'string' || target.tag === '') return; // a blob or an untagged (child) manifest
    repos.add(requireString(target, 'repository', `${route} events[${i}].target`));
  });
  if (repos.size === 0) return { events: [], note: 'no push of a tagged manifest in the envelope' };
  return { events: [{ source: WEBHOOK_ROUTES[route], repositories: [...repos] }] };
}

/** The generic model event `{"event": "model.updated", "model_name": "...", "version": "..."}`. */
export function parseModelEvent(json: unknown): WebhookResult {
  const route = '/webhooks/model';
  if (!isObject(json)) throw new WebhookError(400, `${route}: expected {"event": "model.updated", "model_name": ..., "version": ...}`);
  const event = requireString(json, 'event', route);
  if (event !== 'model.updated') {
    throw new WebhookError(400, `${route}: field 'event' is '${event}'; the only event is 'model.updated'`);
  }
  const model = requireString(json, 'model_name', route);
  if (json.version !== undefined && (typeof json.version !== 'string' || json.version.trim() === '')) {
    throw new WebhookError(400, `${route}: field 'version' is ${JSON.stringify(json.version)}; give a version string such as '1.2.0'`);
  }
  return { events: [{ source: WEBHOOK_ROUTES[route], models: [model] }] };
}

const MLFLOW_OSS_EVENTS = new Set(['model_version.created', 'model_version_tag.set', 'model_version_alias.created']);
const MLFLOW_DATABRICKS_EVENTS = new Set([
  'MODEL_VERSION_CREATED', 'MODEL_VERSION_TAG_SET', 'MODEL_VERSION_TRANSITIONED_STAGE', 'MODEL_VERSION_TRANSITIONED_TO_PRODUCTION',
  'MODEL_VERSION_TRANSITIONED_TO_STAGING',
]);

/**
 * MLflow model-registry webhooks, both shapes:
 * - OSS MLflow 3: `{"entity": "model_version", "action": "created", "data": {"name": ..., "version": ...}}`
 *   (also `model_version_tag` / `set`, `model_version_alias` / `created`);
 * - Databricks registry webhooks: `{"event": "MODEL_VERSION_CREATED", "model_name": ..., "version": ...}`
 *   (also `MODEL_VERSION_TAG_SET` and stage transitions).
 * Other events (prompts, registered-model creation, deletions) are ignored.
 */
export function parseMlflowEvent(json: unknown): WebhookResult {
  const route = '/webhooks/mlflow';
  if (!isObject(json)) throw new WebhookError(400, `${route}: expected a JSON object`);
  if (typeof json.entity === 'string' && typeof json.action === 'string') {
    const kind = `${json.entity}.${json.action}`;
    if (!MLFLOW_OSS_EVENTS.has(kind)) return { events: [], note: `MLflow event '${kind}' does not change what runs` };
    if (!isObject(json.data)) throw new WebhookError(400, `${route}: MLflow event '${kind}' has no 'data' object`);
    const model = requireString(json.data, 'name', `${route} data`);
    const version = optionalVersion(json.data.version, `${route} data`);
    const alias = kind === 'model_version_alias.created' ? requireString(json.data, 'alias', `${route} data`) : undefined;
    const mlflow = { registeredModel: model, ...(version ? { version } : {}), ...(alias ? { alias } : {}) };
    return { events: [{ source: WEBHOOK_ROUTES[route], models: [model], mlflow }] };
  }
  if (typeof json.event === 'string') {
    if (!MLFLOW_DATABRICKS_EVENTS.has(json.event)) return { events: [], note: `MLflow event '${json.event}' does not change what runs` };
    const model = requireString(json, 'model_name', route);
    const version = optionalVersion(json.version, route);
    return { events: [{ source: WEBHOOK_ROUTES[route], models: [model], mlflow: { registeredModel: model, ...(version ? { version } : {}) } }] };
  }
  throw new WebhookError(400, `${route}: not an MLflow webhook; expected 'entity' + 'action' (MLflow) or 'event' (Databricks registry webhooks)`);
}

/** An MLflow model version number (a string or a number in the payload), or undefined when absent. */
function optionalVersion(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  const text = String(v);
  if ((typeof v !== 'string' && typeof v !== 'number') || !/^\d{1,9}$/.test(text)) {
    throw new WebhookError(400, `${where}: field 'version' is ${JSON.stringify(v)}; MLflow model versions are whole numbers such as '3'`);
  }
  return text;
}

/**
 * Alertmanager webhook (version 4): every firing alert that carries `modelpilot_action="rollback"` and the labels
 * `model` and `version` becomes a rollback event for that model version. Resolved alerts and alerts without the
 * marker are ignored.
 */
export function parseAlertmanager(json: unknown): WebhookResult {
  const route = '/webhooks/alertmanager';
  if (!isObject(json) || !Array.isArray(json.alerts)) {
    throw new WebhookError(400, `${route}: expected an Alertmanager webhook (version 4) with an 'alerts' list`);
  }
  if (json.version !== undefined && json.version !== '4') {
    throw new WebhookError(400, `${route}: field 'version' is ${JSON.stringify(json.version)}; only Alertmanager webhook version '4' is understood`);
  }
  const events: TriggerEvent[] = [];
  const seen = new Set<string>();
  json.alerts.forEach((alert, i) => {
    if (!isObject(alert)) throw new WebhookError(400, `${route}: 'alerts[${i}]' is not an object`);
    if (alert.status !== 'firing') return;
    const labels = isObject(alert.labels) ? alert.labels : {};
    if (labels[ROLLBACK_LABEL] !== ROLLBACK_VALUE) return;
    const model = labels.model;
    const version = labels.version;
    if (typeof model !== 'string' || model === '' || typeof version !== 'string' || version === '') {
      throw new WebhookError(400,
        `${route}: 'alerts[${i}]' asks for a rollback but lacks the labels 'model' and 'version' (got model=${JSON.stringify(model)}, version=${JSON.stringify(version)})`);
    }
    const key = `${model}@${version}`;
    if (seen.has(key)) return;
    seen.add(key);
    const annotations = isObject(alert.annotations) ? alert.annotations : {};
    const name = typeof labels.alertname === 'string' ? labels.alertname : 'alert';
    const summary = typeof annotations.summary === 'string' ? `: ${annotations.summary}` : '';
    const startsAt = typeof alert.startsAt === 'string' && !Number.isNaN(Date.parse(alert.startsAt)) ? alert.startsAt : undefined;
    events.push({ source: WEBHOOK_ROUTES[route], models: [model], rollback: { model, version, reason: `${name} firing${summary}`, ...(startsAt ? { startsAt } : {}) } });
  });
  if (events.length === 0) return { events: [], note: `no firing alert with ${ROLLBACK_LABEL}="${ROLLBACK_VALUE}"` };
  return { events };
}

/**
 * Watchtower's `POST /v1/update[?image=repo1,repo2]`: check everything now, or only the listed images
 * (`repo`, `registry/repo`, with or without tag).
 */
export function parseV1Update(query: URLSearchParams): WebhookResult {
  const route = '/v1/update';
  const raw = query.getAll('image').flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (raw.length === 0) return { events: [{ source: WEBHOOK_ROUTES[route] }] };
  const repos = raw.map((s) => {
    const ref = ImageRef.tryParse(s, { field: 'image', allowMutableTag: true });
    if (!ref) throw new WebhookError(400, `${route}: query 'image' value '${s}' is not an image name; give e.g. 'models/recsys' or '127.0.0.1:5000/models/recsys'`);
    return ref.repository;
  });
  return { events: [{ source: WEBHOOK_ROUTES[route], repositories: [...new Set(repos)] }] };
}

/** Parses an authenticated webhook body (or query) for `route`. */
export function parseWebhook(route: WebhookRoute, body: Buffer, query: URLSearchParams): WebhookResult {
  switch (route) {
    case '/webhooks/registry': return parseRegistryNotification(parseJson(route, body));
    case '/webhooks/model': return parseModelEvent(parseJson(route, body));
    case '/webhooks/mlflow': return parseMlflowEvent(parseJson(route, body));
    case '/webhooks/alertmanager': return parseAlertmanager(parseJson(route, body));
    case '/v1/update': return parseV1Update(query);
  }
}
