/**
 * Series of one or more counters (or one histogram's base name) with label matchers, e.g. vLLM's HTTP requests:
 * `{ metric: 'http_requests_total', matchers: ['method="POST"', 'handler=~"/v1/.+"'] }`. Several metric names are
 * read as one (`{__name__=~"a|b"}`), e.g. Triton's success and failure counters as "all requests".
 */
export interface SeriesSelector {
  /** The metric name, or several read together. */
  readonly metric: string | readonly string[];
  /** Further PromQL label matchers, e.g. `status="5xx"`. */
  readonly matchers?: readonly string[];
}

/** One series a server writes, with its own labels (a sample of its exposition; the tests build input from it). */
export interface ExampleSeries {
  readonly metric: string;
  readonly labels?: Record<string, string>;
}

/** How the server measures request latency. */
export type LatencyShape =
  /** A Prometheus histogram (`<metric>_bucket`), in `unit` seconds per observed unit: p99 by `histogram_quantile`. */
  | { readonly kind: 'histogram'; readonly metric: string; readonly matchers?: readonly string[]; readonly unitSeconds?: number }
  /**
   * Two counters: total time and number of requests (Triton's `nv_inference_request_duration_us` and
   * `nv_inference_request_success`). No quantile exists: the latency ceiling is judged on the **mean**, which a
   * slow tail can hide; export a histogram and use `histogram` where you can.
   */
  | { readonly kind: 'mean'; readonly sum: SeriesSelector; readonly count: SeriesSelector; readonly unitSeconds?: number };

/** The LLM metrics a server exports: histograms in seconds (base names) and the generated-tokens counter. */
export interface LlmMetrics {
  /** Histogram of the time to the first token of each request, e.g. `vllm:time_to_first_token_seconds`. */
  readonly timeToFirstToken?: string;
  /** Histogram of the time per output token, e.g. `vllm:time_per_output_token_seconds`. */
  readonly timePerOutputToken?: string;
  /** Histogram of the time a request waits before it is scheduled, e.g. `vllm:request_queue_time_seconds`. */
  readonly queueTime?: string;
  /** Counter of generated tokens, e.g. `vllm:generation_tokens_total`. */
  readonly generatedTokens?: string;
  /** Label matchers every LLM series is read with (none for the stock profiles). */
  readonly matchers?: readonly string[];
}

/** The Slo fields that read an LLM metric, and which metric each reads. */
export const LLM_OBJECTIVES = {
  maxP99TimeToFirstToken: 'timeToFirstToken',
  maxP99TimePerOutputToken: 'timePerOutputToken',
  maxP99QueueTime: 'queueTime',
  minTokensPerSecond: 'timePerOutputToken',
} as const satisfies Record<string, keyof Omit<LlmMetrics, 'matchers'>>;

/** What a {@link ModelServer} is made of: where its health and metrics live and how it counts. */
export interface ModelServerProps {
  /** A short name for messages and docs, e.g. `vllm`. */
  readonly name: string;
  /** The container port the server serves on by default (the model's `port` overrides it). */
  readonly port: number;
  /** Port of `/metrics` when it is not the serving port (Triton's 8002). */
  readonly metricsPort?: number;
  /** Path of the Prometheus metrics. */
  readonly metricsPath: string;
  /** Path answering 200 while the process is alive. */
  readonly livenessPath: string;
  /** Path answering 200 once the model is loaded and it can serve. */
  readonly readinessPath: string;
  /** Every inference request, failures included. */
  readonly requests: SeriesSelector;
  /** The failed ones (the server's fault: 5xx, backend errors). */
  readonly errors: SeriesSelector;
  /** Request latency. */
  readonly latency: LatencyShape;
  /** LLM metrics, for servers that export them. */
  readonly llm?: LlmMetrics;
  /**
   * True when the server labels its own series `model` and `version` with this contract's meaning (the modelpilot
   * server): the scrape keeps them (`honorLabels`). Otherwise the scrape's `model`/`version` target labels win and
   * the server's own (Triton's `model`, `version`) are kept as `exported_model`, `exported_version`.
   * @default false
   */
  readonly ownsModelLabels?: boolean;
  /** How the server writes one successful and one failed request (what the generated rule tests feed Prometheus). */
  readonly example?: { readonly success: readonly ExampleSeries[]; readonly failure: readonly ExampleSeries[]; readonly latency?: ExampleSeries };
  /** Where the metric shapes come from (upstream file and version). */
  readonly source?: string;
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const MATCHER = /^[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"$/;

/**
 * A model server's contract with modelpilot: where its liveness and readiness live, and how its metrics count
 * requests, errors, latency and (LLM servers) tokens. Declared once (on the `Slo`) and rendered everywhere the
 * contract is used: probes, the scrape object, PrometheusRule, the agent's gate, the AnalysisTemplate, KEDA.
 * Series are always selected by the scrape's `model` and `version` target labels (set by ModelMonitoring and the
 * compose bundle's Prometheus), so a server needs no model label of its own.
 */
export class ModelServer {
  /**
   * This package's model server (examples/model-server): `model_request_total{model,version,code}` and the
   * histogram `model_inference_seconds`, `/health/live`, `/health/ready`, port 8080. Rename its metrics with
   * `metrics` (a server that keeps the shape under other names).
   */
  public static modelpilot(metrics: { requestTotal?: string; inferenceSeconds?: string } = {}): ModelServer {
    const requestTotal = metrics.requestTotal ?? 'model_request_total';
    const inferenceSeconds = metrics.inferenceSeconds ?? 'model_inference_seconds';
    for (const [key, name] of [['requestTotal', requestTotal], ['inferenceSeconds', inferenceSeconds]]) {
      if (typeof name !== 'string' || !METRIC.test(name)) {
        throw new Error(`'slo.metrics.${key}' value '${name}' is not a Prometheus metric name; use letters, digits, '_' and ':'`);
      }
    }
    return new ModelServer({
      name: 'modelpilot', port: 8080, metricsPath: '/metrics', livenessPath: '/health/live', readinessPath: '/health/ready',
      requests: { metric: requestTotal },
      errors: { metric: requestTotal, matchers: ['code=~"5.."'] },
      latency: { kind: 'histogram', metric: inferenceSeconds },
      ownsModelLabels: true,
      example: {
        success: [{ metric: requestTotal, labels: { code: '200' } }],
        failure: [{ metric: requestTotal, labels: { code: '500' } }],
        latency: { metric: inferenceSeconds },
      },
      source: 'examples/model-server/src/server.ts (this repository)',
    });
  }

  /**
   * vLLM's OpenAI-compatible server (`vllm serve`), port 8000, `/health` for both probes. Requests and errors are
   * its HTTP layer's counter (prometheus-fastapi-instrumentator: `http_requests_total{handler,method,status="2xx"}`,
   * no model label; only `POST /v1/…` calls count); latency `vllm:e2e_request_latency_seconds`; TTFT
   * `vllm:time_to_first_token_seconds`, TPOT `vllm:time_per_output_token_seconds`, queue
   * `vllm:request_queue_time_seconds`, tokens `vllm:generation_tokens_total` (labels `model_name`, `engine`).
   * Source: vllm-project/vllm vllm/v1/metrics/loggers.py (PrometheusStatLogger, commit 005a810) and
   * vllm/entrypoints/openai/api_server.py (the Instrumentator).
   */
  public static vllm(): ModelServer {
    const http = ['method="POST"', 'handler=~"/v1/.+"'];
    const call = { handler: '/v1/completions', method: 'POST' };
    const engine = { model_name: 'served-model', engine: '0' };
    return new ModelServer({
      name: 'vllm', port: 8000, metricsPath: '/metrics', livenessPath: '/health', readinessPath: '/health',
      requests: { metric: 'http_requests_total', matchers: http },
      errors: { metric: 'http_requests_total', matchers: [...http, 'status="5xx"'] },
      latency: { kind: 'histogram', metric: 'vllm:e2e_request_latency_seconds' },
      llm: {
        timeToFirstToken: 'vllm:time_to_first_token_seconds',
        timePerOutputToken: 'vllm:time_per_output_token_seconds',
        queueTime: 'vllm:request_queue_time_seconds',
        generatedTokens: 'vllm:generation_tokens_total',
      },
      example: {
        success: [{ metric: 'http_requests_total', labels: { ...call, status: '2xx' } }],
        failure: [{ metric: 'http_requests_total', labels: { ...call, status: '5xx' } }],
        latency: { metric: 'vllm:e2e_request_latency_seconds', labels: engine },
      },
      source: 'vllm-project/vllm vllm/v1/metrics/loggers.py @ 005a810; prometheus-fastapi-instrumentator default metrics',
    });
  }

  /**
   * Hugging Face text-generation-inference (TGI), port 80 (the image's), `/health`. Requests `tgi_request_count`,
   * errors `tgi_request_failure{err}` except `err="validation"` (the caller's bad request, a 422), latency the
   * histogram `tgi_request_duration`, TPOT `tgi_request_mean_time_per_token_duration`, queue
   * `tgi_request_queue_duration`, tokens the `_sum` of `tgi_request_generated_tokens`. TGI exports no time to first
   * token. Source: huggingface/text-generation-inference docs/source/reference/metrics.md @ 53fdbe6 and the router's
   * `metrics::counter!("tgi_request_failure", "err" => …)` calls.
   */
  public static tgi(): ModelServer {
    return new ModelServer({
      name: 'tgi', port: 80, metricsPath: '/metrics', livenessPath: '/health', readinessPath: '/health',
      requests: { metric: 'tgi_request_count' },
      errors: { metric: 'tgi_request_failure', matchers: ['err!="validation"'] },
      latency: { kind: 'histogram', metric: 'tgi_request_duration' },
      llm: {
        timePerOutputToken: 'tgi_request_mean_time_per_token_duration',
        queueTime: 'tgi_request_queue_duration',
        generatedTokens: 'tgi_request_generated_tokens_sum',
      },
      example: {
        success: [{ metric: 'tgi_request_count' }, { metric: 'tgi_request_success' }],
        failure: [{ metric: 'tgi_request_count' }, { metric: 'tgi_request_failure', labels: { err: 'generation' } }],
        latency: { metric: 'tgi_request_duration' },
      },
      source: 'huggingface/text-generation-inference docs/source/reference/metrics.md @ 53fdbe6; router/src (tgi_request_failure)',
    });
  }

  /**
   * NVIDIA Triton Inference Server: HTTP on 8000, metrics on 8002, `/v2/health/live` and `/v2/health/ready`.
   * Requests are `nv_inference_request_success` + `nv_inference_request_failure`, errors the latter; Triton's own
   * `model`/`version` labels (the repository's model and its numeric version) are kept as `exported_model` and
   * `exported_version`. Latency: Triton exports cumulative counters by default
   * (`nv_inference_request_duration_us`), so the latency ceiling is judged on the **mean** request time; enable
   * its histograms and use `custom` for a p99. Source: triton-inference-server/server docs/user_guide/metrics.md
   * (r24.04).
   */
  public static triton(): ModelServer {
    const names = ['nv_inference_request_success', 'nv_inference_request_failure'];
    return new ModelServer({
      name: 'triton', port: 8000, metricsPort: 8002, metricsPath: '/metrics', livenessPath: '/v2/health/live', readinessPath: '/v2/health/ready',
      requests: { metric: names },
      errors: { metric: 'nv_inference_request_failure' },
      latency: {
        kind: 'mean', unitSeconds: 1e-6,
        sum: { metric: 'nv_inference_request_duration_us' },
        count: { metric: 'nv_inference_request_success' },
      },
      example: {
        success: [{ metric: 'nv_inference_request_success', labels: { model: 'densenet_onnx', version: '1' } }],
        failure: [{ metric: 'nv_inference_request_failure', labels: { model: 'densenet_onnx', version: '1', reason: 'BACKEND' } }],
        latency: { metric: 'nv_inference_request_duration_us', labels: { model: 'densenet_onnx', version: '1' } },
      },
      source: 'triton-inference-server/server docs/user_guide/metrics.md (r24.04)',
    });
  }

  /**
   * Any OpenAI-compatible server on FastAPI with prometheus-fastapi-instrumentator's default metrics (the HTTP layer
   * vLLM, SGLang's and many in-house servers share): `POST /v1/…` calls from `http_requests_total{status}`, latency
   * from `http_request_duration_seconds{handler,method}`, port 8000, `/health`. No token metrics.
   */
  public static openAiCompatible(options: { port?: number; healthPath?: string } = {}): ModelServer {
    const http = ['method="POST"', 'handler=~"/v1/.+"'];
    const call = { handler: '/v1/chat/completions', method: 'POST' };
    const health = options.healthPath ?? '/health';
    return new ModelServer({
      name: 'openai-compatible', port: options.port ?? 8000, metricsPath: '/metrics', livenessPath: health, readinessPath: health,
      requests: { metric: 'http_requests_total', matchers: http },
      errors: { metric: 'http_requests_total', matchers: [...http, 'status="5xx"'] },
      latency: { kind: 'histogram', metric: 'http_request_duration_seconds', matchers: http },
      example: {
        success: [{ metric: 'http_requests_total', labels: { ...call, status: '2xx' } }],
        failure: [{ metric: 'http_requests_total', labels: { ...call, status: '5xx' } }],
        latency: { metric: 'http_request_duration_seconds', labels: call },
      },
      source: 'trallnag/prometheus-fastapi-instrumentator metrics.default (http_requests_total, http_request_duration_seconds)',
    });
  }

  /** Any other server: say where its health lives and how it counts (every field is checked). */
  public static custom(props: ModelServerProps): ModelServer {
    return new ModelServer(props);
  }

  /** A profile from its {@link toJSON} form (the agent's config). */
  public static fromJSON(json: ModelServerProps): ModelServer {
    return new ModelServer(json);
  }

  public readonly name: string;
  public readonly port: number;
  public readonly metricsPort?: number;
  public readonly metricsPath: string;
  public readonly livenessPath: string;
  public readonly readinessPath: string;
  public readonly requests: SeriesSelector;
  public readonly errors: SeriesSelector;
  public readonly latency: LatencyShape;
  public readonly llm?: LlmMetrics;
  public readonly ownsModelLabels: boolean;
  public readonly example?: ModelServerProps['example'];
  public readonly source?: string;

  private constructor(props: ModelServerProps) {
    const at = (f: string) => `server.${f}`;
    if (typeof props.name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(props.name)) {
      throw new Error(`'server.name' value '${props.name}' is not a short name; use lower-case letters, digits and '-', e.g. 'my-server'`);
    }
    for (const [f, p] of [['port', props.port], ['metricsPort', props.metricsPort]] as const) {
      if (p !== undefined && !(Number.isInteger(p) && p >= 1 && p <= 65535)) {
        throw new Error(`'server.${f}' value ${p} is not a port; give a whole number from 1 to 65535`);
      }
    }
    for (const f of ['metricsPath', 'livenessPath', 'readinessPath'] as const) {
      if (typeof props[f] !== 'string' || !props[f].startsWith('/') || /\s/.test(props[f])) {
        throw new Error(`'server.${f}' value '${props[f]}' is not an HTTP path; start it with '/', e.g. '/health'`);
      }
    }
    checkSelector(props.requests, at('requests'));
    checkSelector(props.errors, at('errors'));
    const lat = props.latency;
    if (lat?.kind === 'histogram') checkSelector(lat, at('latency'));
    else if (lat?.kind === 'mean') {
      checkSelector(lat.sum, `${at('latency')}.sum`);
      checkSelector(lat.count, `${at('latency')}.count`);
    } else {
      throw new Error(`'server.latency' value ${JSON.stringify(lat)} is not a latency shape; give { kind: 'histogram', metric: 'my_latency_seconds' } `
        + "or { kind: 'mean', sum: { metric }, count: { metric } }");
    }
    if (lat.unitSeconds !== undefined && !(lat.unitSeconds > 0 && Number.isFinite(lat.unitSeconds))) {
      throw new Error(`'server.latency.unitSeconds' value ${lat.unitSeconds} must be the seconds of one unit, e.g. 0.001 for milliseconds`);
    }
    for (const [k, v] of Object.entries(props.llm ?? {})) {
      if (k === 'matchers') {
        checkMatchers(v as readonly string[], 'server.llm.matchers');
      } else if (typeof v !== 'string' || !METRIC.test(v)) {
        throw new Error(`'server.llm.${k}' value '${v}' is not a Prometheus metric name; use letters, digits, '_' and ':'`);
      }
    }
    this.name = props.name;
    this.port = props.port;
    this.metricsPort = props.metricsPort === props.port ? undefined : props.metricsPort;
    this.metricsPath = props.metricsPath;
    this.livenessPath = props.livenessPath;
    this.readinessPath = props.readinessPath;
    this.requests = props.requests;
    this.errors = props.errors;
    this.latency = lat;
    this.llm = props.llm;
    this.ownsModelLabels = props.ownsModelLabels ?? false;
    this.example = props.example;
    this.source = props.source;
  }

  /** The LLM metric a field needs, or an error naming the field, this server and the fix. */
  public llmMetric(field: keyof typeof LLM_OBJECTIVES): string {
    const key = LLM_OBJECTIVES[field];
    const metric = this.llm?.[key];
    if (!metric) {
      throw new Error(`'slo.${field}' needs a server that exports ${key}; the '${this.name}' profile does not. Use a profile that does `
        + `(ModelServer.vllm()), declare it with ModelServer.custom({ llm: { ${key}: '<histogram>' } }), or remove the field`);
    }
    return metric;
  }

  public toJSON(): ModelServerProps {
    return {
      name: this.name, port: this.port, ...(this.metricsPort ? { metricsPort: this.metricsPort } : {}),
      metricsPath: this.metricsPath, livenessPath: this.livenessPath, readinessPath: this.readinessPath,
      requests: this.requests, errors: this.errors, latency: this.latency,
      ...(this.llm ? { llm: this.llm } : {}),
      ...(this.ownsModelLabels ? { ownsModelLabels: true } : {}),
    };
  }
}

function checkMatchers(m: readonly string[] | undefined, field: string): void {
  if (m === undefined) return;
  if (!Array.isArray(m)) throw new Error(`'${field}' value ${JSON.stringify(m)} must be a list of PromQL matchers such as ['status="5xx"']`);
  for (const x of m) {
    if (typeof x !== 'string' || !MATCHER.test(x)) {
      throw new Error(`'${field}' value '${x}' is not a PromQL label matcher; write label, operator and a quoted value, e.g. 'status="5xx"'`);
    }
  }
}

function checkSelector(s: SeriesSelector | undefined, field: string): void {
  const names = typeof s?.metric === 'string' ? [s.metric] : s?.metric;
  if (!s || !Array.isArray(names) || names.length === 0) {
    throw new Error(`'${field}' value ${JSON.stringify(s)} names no metric; give { metric: 'my_requests_total', matchers: [...] }`);
  }
  for (const n of names) {
    if (typeof n !== 'string' || !METRIC.test(n)) {
      throw new Error(`'${field}.metric' value '${n}' is not a Prometheus metric name; use letters, digits, '_' and ':'`);
    }
  }
  checkMatchers(s.matchers, `${field}.matchers`);
}

/**
 * The labels a series of `server` carries once scraped: the target's (`model`, `version`, `namespace`, …) and the
 * server's own; where both name a label the target wins unless the server owns the model labels (`honor_labels`),
 * and the server's value moves to `exported_<label>` — Prometheus' own rule.
 */
export function scrapedLabels(server: ModelServer, target: Record<string, string>, own: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { ...target };
  for (const [k, v] of Object.entries(own)) {
    if (!(k in target) || server.ownsModelLabels) out[k] = v;
    else out[`exported_${k}`] = v;
  }
  return out;
}

/** @internal PromQL for the selector's series with `more` matchers: `name{…}` or `{__name__=~"a|b",…}`. */
export function renderSelector(s: SeriesSelector, more: readonly string[], suffix = ''): string {
  const names = typeof s.metric === 'string' ? [s.metric] : s.metric;
  const all = [...more, ...(s.matchers ?? [])];
  if (names.length === 1) return `${names[0]}${suffix}{${all.join(',')}}`;
  // metric names hold only [a-zA-Z0-9_:], nothing a regex or a PromQL string would read specially
  return `{${[`__name__=~"${names.map((n) => `${n}${suffix}`).join('|')}"`, ...all].join(',')}}`;
}
