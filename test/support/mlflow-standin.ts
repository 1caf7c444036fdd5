/**
 * A small stand-in for an MLflow tracking server's Model Registry, for tests: MLflow's server (Python) cannot run
 * here. It is written from MLflow's published REST API reference
 * (https://mlflow.org/docs/latest/api_reference/rest-api.html) — the request and response shapes of the calls
 * below, errors as `{ "error_code": "RESOURCE_DOES_NOT_EXIST", "message": … }` with HTTP 404 — and from MLflow 3's
 * webhook delivery (JSON `{ entity, action, timestamp, data }` with `X-MLflow-Signature: v1,<base64 HMAC-SHA256 of
 * "<delivery id>.<timestamp>.<body>">`, `X-MLflow-Delivery-Id`, `X-MLflow-Timestamp`). It listens on 127.0.0.1 only.
 *
 * Calls: registered-models/create, registered-models/get, model-versions/create, model-versions/get,
 * model-versions/set-tag, registered-models/alias (POST sets, GET reads).
 */
import { createHmac, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

interface Version { name: string; version: string; status: string; source: string; tags: Map<string, string>; creation_timestamp: number }
interface Model { name: string; versions: Version[]; aliases: Map<string, string> }

/** Where MLflow delivers its webhooks (model_version.created, model_version_alias.created, model_version_tag.set). */
export interface StandInWebhook { readonly url: string; readonly secret: string }

export class MlflowStandIn {
  public readonly models = new Map<string, Model>();
  /** Every API call received (`GET /api/2.0/mlflow/…?…`, `POST … <body>`), for assertions. */
  public readonly calls: string[] = [];
  /** Webhook deliveries and the status each got. */
  public readonly deliveries: Array<{ event: string; status: number }> = [];
  private server?: http.Server;
  public url = '';

  constructor(private readonly opts: { token?: string; webhook?: StandInWebhook } = {}) {}

  public async start(): Promise<string> {
    this.server = http.createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  public async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Tags of a model version, as a plain object. */
  public tagsOf(name: string, version: string): Record<string, string> {
    const v = this.models.get(name)?.versions.find((x) => x.version === version);
    return v ? Object.fromEntries(v.tags) : {};
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    this.calls.push(`${req.method} ${url.pathname}${url.search}${text ? ` ${text}` : ''}`);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, code: string, message: string) => reply(status, { error_code: code, message });
    if (this.opts.token && req.headers.authorization !== `Bearer ${this.opts.token}`) return error(401, 'UNAUTHENTICATED', 'Credential was not sent or was invalid');
    let body: Record<string, unknown> = {};
    if (req.method === 'POST') {
      try {
        body = JSON.parse(text || '{}') as Record<string, unknown>;
      } catch {
        return error(400, 'MALFORMED_REQUEST', 'Request body is not JSON');
      }
    }
    const arg = (k: string): string | undefined => (req.method === 'GET' ? url.searchParams.get(k) ?? undefined : body[k] === undefined ? undefined : String(body[k]));
    const need = (k: string): string => {
      const v = arg(k);
      if (v === undefined || v === '') throw Object.assign(new Error(`Missing value for required parameter '${k}'.`), { code: 'INVALID_PARAMETER_VALUE', status: 400 });
      return v;
    };
    const model = (name: string): Model => {
      const m = this.models.get(name);
      if (!m) throw Object.assign(new Error(`Registered Model with name=${name} not found`), { code: 'RESOURCE_DOES_NOT_EXIST', status: 404 });
      return m;
    };
    const version = (name: string, v: string): Version => {
      const found = model(name).versions.find((x) => x.version === v);
      if (!found) throw Object.assign(new Error(`Model Version (name=${name}, version=${v}) not found`), { code: 'RESOURCE_DOES_NOT_EXIST', status: 404 });
      return found;
    };
    try {
      const route = `${req.method} ${url.pathname}`;
      switch (route) {
        case 'POST /api/2.0/mlflow/registered-models/create': {
          const name = need('name');
          if (this.models.has(name)) return error(400, 'RESOURCE_ALREADY_EXISTS', `Registered Model (name=${name}) already exists.`);
          this.models.set(name, { name, versions: [], aliases: new Map() });
          return reply(200, { registered_model: { name } });
        }
        case 'GET /api/2.0/mlflow/registered-models/get': {
          const m = model(need('name'));
          const latest = m.versions[m.versions.length - 1];
          return reply(200, { registered_model: {
            name: m.name, latest_versions: latest ? [{ ...render(latest), current_stage: 'None' }] : [],
            aliases: [...m.aliases].map(([alias, v]) => ({ alias, version: v })),
          } });
        }
        case 'POST /api/2.0/mlflow/model-versions/create': {
          const m = model(need('name'));
          const tags = Array.isArray(body.tags) ? (body.tags as Array<{ key: string; value: string }>) : [];
          const v: Version = {
            name: m.name, version: String(m.versions.length + 1), status: 'READY', source: need('source'),
            tags: new Map(tags.map((t) => [t.key, t.value])), creation_timestamp: Date.now(),
          };
          m.versions.push(v);
          await this.deliver('model_version', 'created', { name: m.name, version: v.version, source: v.source, tags: Object.fromEntries(v.tags) });
          return reply(200, { model_version: render(v) });
        }
        case 'GET /api/2.0/mlflow/model-versions/get':
          return reply(200, { model_version: render(version(need('name'), need('version'))) });
        case 'POST /api/2.0/mlflow/model-versions/set-tag': {
          const v = version(need('name'), need('version'));
          v.tags.set(need('key'), arg('value') ?? '');
          return reply(200, {});
        }
        case 'POST /api/2.0/mlflow/registered-models/alias': {
          const name = need('name');
          const v = version(name, need('version'));
          const alias = need('alias');
          model(name).aliases.set(alias, v.version);
          await this.deliver('model_version_alias', 'created', { name, alias, version: v.version });
          return reply(200, {});
        }
        case 'GET /api/2.0/mlflow/registered-models/alias': {
          const name = need('name');
          const alias = need('alias');
          const v = model(name).aliases.get(alias);
          if (v === undefined) return error(404, 'RESOURCE_DOES_NOT_EXIST', `Registered model alias ${alias} not found.`);
          return reply(200, { model_version: { ...render(version(name, v)), aliases: [alias] } });
        }
        default:
          return error(404, 'ENDPOINT_NOT_FOUND', `No API route for ${route}`);
      }
    } catch (e) {
      const err = e as Error & { code?: string; status?: number };
      return error(err.status ?? 500, err.code ?? 'INTERNAL_ERROR', err.message);
    }
  }

  /** Delivers a webhook the way MLflow 3 signs it; the outcome is recorded, never thrown. */
  private async deliver(entity: string, action: string, data: Record<string, unknown>): Promise<void> {
    const hook = this.opts.webhook;
    if (!hook) return;
    const body = JSON.stringify({ entity, action, timestamp: new Date().toISOString(), data });
    const id = randomUUID();
    const ts = String(Math.floor(Date.now() / 1000));
    const sig = createHmac('sha256', hook.secret).update(`${id}.${ts}.${body}`).digest('base64');
    try {
      const r = await fetch(hook.url, {
        method: 'POST', body,
        headers: { 'Content-Type': 'application/json', 'X-MLflow-Signature': `v1,${sig}`, 'X-MLflow-Delivery-Id': id, 'X-MLflow-Timestamp': ts },
        signal: AbortSignal.timeout(5000),
      });
      this.deliveries.push({ event: `${entity}.${action}`, status: r.status });
    } catch {
      this.deliveries.push({ event: `${entity}.${action}`, status: 0 });
    }
  }
}

function render(v: Version): Record<string, unknown> {
  return {
    name: v.name, version: v.version, status: v.status, source: v.source, creation_timestamp: v.creation_timestamp,
    tags: [...v.tags].map(([key, value]) => ({ key, value })),
  };
}
