/**
 * The few calls of MLflow's REST API (2.0, Model Registry) the agent makes: read a registered model (its aliases
 * and latest versions), a model version (status and tags), the version an alias points at; and set a tag on a
 * model version (the outcome written back). https://mlflow.org/docs/latest/api_reference/rest-api.html
 */
import { HttpRequester, httpRequest } from '../http-client';

/** A model version as the agent needs it. */
export interface MlflowModelVersion {
  readonly name: string;
  readonly version: string;
  /** `READY`, `PENDING_REGISTRATION`, `FAILED_REGISTRATION`. */
  readonly status: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** A registered model: its aliases and the latest version (the highest version number it lists). */
export interface MlflowRegisteredModel {
  readonly name: string;
  readonly aliases: Readonly<Record<string, string>>;
  readonly latestVersion?: string;
}

/** What the loop asks MLflow (an interface so that unit tests give a fake). */
export interface MlflowApi {
  /** The registered model; throws (status 404) when it does not exist. */
  registeredModel(name: string, signal?: AbortSignal): Promise<MlflowRegisteredModel>;
  /** A model version; throws (status 404) when it does not exist. */
  modelVersion(name: string, version: string, signal?: AbortSignal): Promise<MlflowModelVersion>;
  /** The version `alias` points at; throws (status 404) when the alias is not set. */
  versionByAlias(name: string, alias: string, signal?: AbortSignal): Promise<MlflowModelVersion>;
  /** Sets a tag on a model version. */
  setVersionTag(name: string, version: string, key: string, value: string, signal?: AbortSignal): Promise<void>;
}

/** An MLflow call that failed: the HTTP status (0: network) and MLflow's `error_code`. */
export class MlflowError extends Error {
  constructor(message: string, public readonly status: number, public readonly code?: string) {
    super(message);
    this.name = 'MlflowError';
  }
}

export interface MlflowClientOptions {
  /** Tracking server base URL, e.g. `http://mlflow:5000`. */
  readonly url: string;
  /** Bearer token (`MLFLOW_TRACKING_TOKEN`); none: anonymous. */
  readonly token?: string;
  /** @default 10000 */
  readonly timeoutMs?: number;
  readonly request?: HttpRequester;
}

interface RawVersion { name?: unknown; version?: unknown; status?: unknown; tags?: Array<{ key?: unknown; value?: unknown }> }

export class MlflowClient implements MlflowApi {
  private readonly send: HttpRequester;
  private readonly base: string;

  constructor(private readonly o: MlflowClientOptions) {
    this.send = o.request ?? httpRequest;
    this.base = o.url.replace(/\/+$/, '');
  }

  public async registeredModel(name: string, signal?: AbortSignal): Promise<MlflowRegisteredModel> {
    const doc = await this.call('GET', '/api/2.0/mlflow/registered-models/get', { name }, signal) as {
      registered_model?: { name?: unknown; aliases?: Array<{ alias?: unknown; version?: unknown }>; latest_versions?: RawVersion[] };
    };
    const m = doc.registered_model ?? {};
    const aliases = Object.fromEntries((m.aliases ?? []).filter((a) => typeof a.alias === 'string').map((a) => [String(a.alias), String(a.version)]));
    const versions = (m.latest_versions ?? []).map((v) => String(v.version)).filter((v) => /^\d+$/.test(v));
    const latestVersion = versions.sort((a, b) => Number(b) - Number(a))[0];
    return { name: String(m.name ?? name), aliases, ...(latestVersion ? { latestVersion } : {}) };
  }

  public async modelVersion(name: string, version: string, signal?: AbortSignal): Promise<MlflowModelVersion> {
    const doc = await this.call('GET', '/api/2.0/mlflow/model-versions/get', { name, version }, signal) as { model_version?: RawVersion };
    return toVersion(doc.model_version, name);
  }

  public async versionByAlias(name: string, alias: string, signal?: AbortSignal): Promise<MlflowModelVersion> {
    const doc = await this.call('GET', '/api/2.0/mlflow/registered-models/alias', { name, alias }, signal) as { model_version?: RawVersion };
    return toVersion(doc.model_version, name);
  }

  public async setVersionTag(name: string, version: string, key: string, value: string, signal?: AbortSignal): Promise<void> {
    await this.call('POST', '/api/2.0/mlflow/model-versions/set-tag', { name, version, key, value }, signal);
  }

  private async call(method: 'GET' | 'POST', path: string, args: Record<string, string>, signal?: AbortSignal): Promise<unknown> {
    const url = method === 'GET' ? `${this.base}${path}?${new URLSearchParams(args).toString()}` : `${this.base}${path}`;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.o.token) headers.Authorization = `Bearer ${this.o.token}`;
    if (method === 'POST') headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await this.send({
        url, method, headers, signal, timeoutMs: this.o.timeoutMs ?? 10_000, maxRedirects: 3, maxBodyBytes: 4 * 1024 * 1024,
        ...(method === 'POST' ? { body: JSON.stringify(args) } : {}),
      });
    } catch (e) {
      throw new MlflowError(`MLflow at ${this.base} is unreachable (${(e as Error).message})`, 0);
    }
    let doc: { error_code?: unknown; message?: unknown } = {};
    try {
      doc = JSON.parse(res.text() || '{}') as typeof doc;
    } catch {
      if (res.ok) throw new MlflowError(`MLflow answered ${method} ${path} with a body that is not JSON`, res.status);
    }
    if (!res.ok) {
      const code = typeof doc.error_code === 'string' ? doc.error_code : undefined;
      const msg = typeof doc.message === 'string' ? doc.message : res.text().slice(0, 200);
      const hint = res.status === 401 || res.status === 403 ? '; check mlflow.tokenFile' : '';
      throw new MlflowError(`MLflow answered ${res.status}${code ? ` ${code}` : ''} for ${method} ${path}: ${msg}${hint}`, res.status, code);
    }
    return doc;
  }
}

function toVersion(v: RawVersion | undefined, name: string): MlflowModelVersion {
  if (!v || (typeof v.version !== 'string' && typeof v.version !== 'number')) throw new MlflowError(`MLflow sent no model_version for '${name}'`, 200);
  const tags = Object.fromEntries((v.tags ?? []).filter((t) => typeof t.key === 'string').map((t) => [String(t.key), String(t.value ?? '')]));
  return { name: String(v.name ?? name), version: String(v.version), status: String(v.status ?? 'READY'), tags };
}
