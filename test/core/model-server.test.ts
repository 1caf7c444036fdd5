import { Testing } from 'cdk8s';
import { parse as parseYaml } from 'yaml';
import { Duration, ModelDeployment, ModelMonitoring, ModelRegistry, SelfHealingModelStack } from '../../lib';
import { singleHostBundle } from '../../lib/compose/single-host';
import { parseConfig } from '../../lib/core/contract/agent-config';
import { ModelServer } from '../../lib/core/model-server';
import { Slo } from '../../lib/core/slo';
import { renderAnalysisSpec } from '../../lib/delivery/progressive-delivery';

const sel = { model: 'llm', version: '1.4.0' };

describe('ModelServer profiles render every query in their server\'s shape', () => {
  test('modelpilot (the default) keeps the contract\'s queries exactly', () => {
    const slo = new Slo();
    expect(slo.server.name).toBe('modelpilot');
    expect(slo.metricServedErrors(sel)).toBe('sum(model_request_total{model="llm",version="1.4.0",code=~"5.."})');
    expect(slo.metricServedP99(sel)).toBe('histogram_quantile(0.99, sum by (le) (model_inference_seconds_bucket{model="llm",version="1.4.0"}))');
    expect(slo.toJSON()).not.toHaveProperty('server');
  });

  test('vLLM: the HTTP counter\'s POST /v1 calls and status="5xx"; latency and LLM histograms by name', () => {
    const slo = new Slo({ server: ModelServer.vllm(), maxP99TimeToFirstToken: Duration.millis(500), minTokensPerSecond: 20 });
    expect(slo.metricServedRequests(sel)).toBe('sum(http_requests_total{model="llm",version="1.4.0",method="POST",handler=~"/v1/.+"})');
    expect(slo.metricServedErrors(sel)).toBe('sum(http_requests_total{model="llm",version="1.4.0",method="POST",handler=~"/v1/.+",status="5xx"})');
    expect(slo.metricP99Latency(sel)).toBe('histogram_quantile(0.99, sum by (model, version, le) (rate(vllm:e2e_request_latency_seconds_bucket{model="llm",version="1.4.0"}[5m])))');
    expect(slo.metricServedLlm('maxP99TimeToFirstToken', sel))
      .toBe('histogram_quantile(0.99, sum by (le) (vllm:time_to_first_token_seconds_bucket{model="llm",version="1.4.0"}))');
    expect(slo.metricLlm('minTokensPerSecond', sel)).toBe('sum by (model, version) (rate(vllm:time_per_output_token_seconds_count{model="llm",version="1.4.0"}[5m]))'
      + ' / sum by (model, version) (rate(vllm:time_per_output_token_seconds_sum{model="llm",version="1.4.0"}[5m]))');
    expect(slo.llmObjectives).toEqual([
      { field: 'maxP99TimeToFirstToken', bound: 0.5, direction: 'max', unit: 's' },
      { field: 'minTokensPerSecond', bound: 20, direction: 'min', unit: 'tokens/s' },
    ]);
  });

  test('Triton: success + failure read as one; the latency is the mean of its microsecond counters', () => {
    const slo = new Slo({ server: ModelServer.triton() });
    expect(slo.metricServedRequests(sel)).toBe('sum({__name__=~"nv_inference_request_success|nv_inference_request_failure",model="llm",version="1.4.0"})');
    expect(slo.metricServedErrors(sel)).toBe('sum(nv_inference_request_failure{model="llm",version="1.4.0"})');
    expect(slo.metricServedP99(sel)).toBe('(sum by () (nv_inference_request_duration_us{model="llm",version="1.4.0"})'
      + ' / sum by () (nv_inference_request_success{model="llm",version="1.4.0"})) * 0.000001');
    expect(slo.latencyStatistic).toBe('mean');
  });

  test('TGI: failures but the caller\'s validation errors', () => {
    const slo = new Slo({ server: ModelServer.tgi() });
    expect(slo.metricServedErrorRatio(sel)).toContain('tgi_request_failure{model="llm",version="1.4.0",err!="validation"}');
    expect(slo.metricModelRequestRate('llm', '2m')).toBe('sum(rate(tgi_request_count{model="llm"}[2m]))');
  });

  test('an LLM objective on a server without the metric is refused, naming the field, the server and the fix', () => {
    expect(() => new Slo({ server: ModelServer.tgi(), maxP99TimeToFirstToken: Duration.millis(500) })).toThrow(
      "'slo.maxP99TimeToFirstToken' needs a server that exports timeToFirstToken; the 'tgi' profile does not. Use a profile that does "
      + "(ModelServer.vllm()), declare it with ModelServer.custom({ llm: { timeToFirstToken: '<histogram>' } }), or remove the field");
    expect(() => new Slo({ maxP99TimePerOutputToken: Duration.millis(50) })).toThrow(/the 'modelpilot' profile does not/);
    expect(() => new Slo({ server: ModelServer.vllm(), minTokensPerSecond: -1 })).toThrow(/'slo.minTokensPerSecond' value -1 must be a positive/);
    expect(() => new Slo({ server: ModelServer.vllm(), metrics: { requestTotal: 'x_total' } })).toThrow(/'slo.metrics' .* renames the modelpilot server's metrics, but 'slo.server' is 'vllm'/);
  });

  test.each<[string, object, RegExp]>([
    ['a bad metric name', { requests: { metric: 'http-requests' } }, /'server.requests.metric' value 'http-requests' is not a Prometheus metric name/],
    ['a bad matcher', { errors: { metric: 'x_total', matchers: ['status=5xx'] } }, /'server.errors.matchers' value 'status=5xx' is not a PromQL label matcher; .* e\.g\. 'status="5xx"'/],
    ['no latency shape', { latency: { kind: 'summary' } }, /'server.latency' value .* is not a latency shape; give \{ kind: 'histogram'/],
    ['a bad path', { readinessPath: 'ready' }, /'server.readinessPath' value 'ready' is not an HTTP path/],
    ['a bad port', { metricsPort: 70000 }, /'server.metricsPort' value 70000 is not a port/],
  ])('custom: %s is refused with the field, the value and the fix', (_n, bad, message) => {
    const good = {
      name: 'mine', port: 9000, metricsPath: '/metrics', livenessPath: '/live', readinessPath: '/ready',
      requests: { metric: 'req_total' }, errors: { metric: 'req_total', matchers: ['code=~"5.."'] },
      latency: { kind: 'histogram' as const, metric: 'req_seconds' },
    };
    expect(() => ModelServer.custom(good)).not.toThrow();
    expect(() => ModelServer.custom({ ...good, ...bad } as never)).toThrow(message);
  });
});

describe('declared once: the profile reaches probes, ports, scrape, analysis and the agent', () => {
  test('Triton: probes on /v2/health/*, a metrics port on container, Service, NetworkPolicy and ServiceMonitor; its labels give way', () => {
    const chart = Testing.chart();
    const slo = new Slo({ server: ModelServer.triton() });
    const model = new ModelDeployment(chart, 'M', { name: 'densenet', namespace: 'ml', image: 'registry.example:5000/densenet:1.0.0', slo });
    new ModelMonitoring(chart, 'Mon', { model });
    const out = Testing.synth(chart);
    const deployment = out.find((o) => o.kind === 'Deployment');
    const c = deployment.spec.template.spec.containers[0];
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8000, protocol: 'TCP' }, { name: 'metrics', containerPort: 8002, protocol: 'TCP' }]);
    expect([c.livenessProbe.httpGet, c.readinessProbe.httpGet, c.startupProbe.httpGet]).toEqual([
      { path: '/v2/health/live', port: 'http' }, { path: '/v2/health/ready', port: 'http' }, { path: '/v2/health/ready', port: 'http' }]);
    expect(out.find((o) => o.kind === 'Service').spec.ports.map((p: { name: string }) => p.name)).toEqual(['http', 'metrics']);
    expect(out.find((o) => o.kind === 'NetworkPolicy').spec.ingress[0].ports).toEqual([{ protocol: 'TCP', port: 8000 }, { protocol: 'TCP', port: 8002 }]);
    const endpoint = out.find((o) => o.kind === 'ServiceMonitor').spec.endpoints[0];
    expect([endpoint.port, endpoint.honorLabels]).toEqual(['metrics', false]);
    expect(() => new ModelDeployment(Testing.chart(), 'X', { name: 'x', image: 'r.example/x:1.0.0', slo, port: 8002 }))
      .toThrow("'port' value 8002 is the 'triton' server's metrics port; serve on another port, e.g. 8000");
  });

  test('the default server keeps honorLabels and one port', () => {
    const chart = Testing.chart();
    const model = new ModelDeployment(chart, 'M', { name: 'churn', image: 'registry.example:5000/churn:1.0.0' });
    new ModelMonitoring(chart, 'Mon', { model });
    const out = Testing.synth(chart);
    expect(out.find((o) => o.kind === 'ServiceMonitor').spec.endpoints[0].honorLabels).toBe(true);
    expect(out.find((o) => o.kind === 'Service').spec.ports).toHaveLength(1);
  });

  test('the analysis gains one metric per LLM objective, read in the profile\'s shape', () => {
    const slo = new Slo({ server: ModelServer.vllm(), maxP99TimeToFirstToken: Duration.millis(400), minTokensPerSecond: 25 });
    const spec = renderAnalysisSpec(slo, 'llm', { intervalSeconds: 30, measurements: 10, failureLimit: 1, idleLimit: 3 } as never, 'http://prom:9090') as {
      metrics: Array<{ name: string; successCondition: string; provider: { prometheus: { query: string } } }>;
    };
    const byName = Object.fromEntries(spec.metrics.map((m) => [m.name, m]));
    expect(Object.keys(byName)).toEqual(['served-requests', 'error-ratio', 'p99-latency', 'max-p99-time-to-first-token', 'min-tokens-per-second']);
    expect(byName['served-requests'].provider.prometheus.query).toContain('http_requests_total{model="llm"');
    expect(byName['max-p99-time-to-first-token'].successCondition).toBe('len(result) == 0 || isNaN(result[0]) || result[0] <= 0.4');
    expect(byName['min-tokens-per-second'].successCondition).toBe('len(result) == 0 || isNaN(result[0]) || result[0] >= 25');
  });

  test('the agent reads the profile back from the config synth writes: the same queries', () => {
    const slo = new Slo({ server: ModelServer.triton(), maxP99Latency: Duration.millis(300) });
    const vllm = new Slo({ server: ModelServer.vllm(), maxP99TimePerOutputToken: Duration.millis(80), minTokensPerSecond: 15 });
    const config = parseConfig(JSON.parse(JSON.stringify({
      targets: { docker: {} }, health: { slo },
      images: [{ repository: '127.0.0.1:5000/models/llm', slo: vllm }],
    })));
    expect(config.health.slo.metricServedP99(sel)).toBe(slo.metricServedP99(sel));
    expect(config.health.slo.metricServedRequests(sel)).toBe(slo.metricServedRequests(sel));
    const parsed = config.images[0].slo!;
    expect(parsed.llmObjectives).toEqual(vllm.llmObjectives);
    expect(parsed.metricServedLlm('minTokensPerSecond', sel)).toBe(vllm.metricServedLlm('minTokensPerSecond', sel));
    expect(() => parseConfig({ targets: { docker: {} }, health: { slo: { server: { ...slo.server.toJSON(), errors: { metric: 'bad-name' } } } } }))
      .toThrow(/'health\.slo\.server\.errors\.metric'.*'bad-name'.*is not a Prometheus metric name/s);
  });

  test('the single-host bundle refuses a server with its own metrics port, saying what to do', () => {
    const app = Testing.app();
    const stack = new SelfHealingModelStack(app, 'S', {
      registry: ModelRegistry.external({ host: 'registry.example.com' }),
      model: { name: 'densenet', image: 'registry.example.com/m/densenet:1.0.0', slo: new Slo({ server: ModelServer.triton() }) },
      singleHost: {},
    });
    expect(() => singleHostBundle(stack, stack.singleHost)).toThrow(/the 'triton' server serves metrics on its own port 8002, which the single-host bundle does not scrape.*deploy this stack to Kubernetes/);
    const vllm = new SelfHealingModelStack(app, 'V', {
      registry: ModelRegistry.external({ host: 'registry.example.com' }),
      model: { name: 'llm', image: 'registry.example.com/m/llm:1.0.0', slo: new Slo({ server: ModelServer.vllm() }) },
      singleHost: {},
    });
    expect(singleHostBundle(vllm, vllm.singleHost)['compose.yaml']).toContain('/health');
    // with an updater: agent.yaml carries the profile and the agent parses it back into the same queries
    const withUpdater = new SelfHealingModelStack(app, 'U', {
      registry: ModelRegistry.external({ host: 'registry.example.com' }),
      model: { name: 'llm', image: 'registry.example.com/m/llm:1.0.0', slo: new Slo({ server: ModelServer.vllm(), minTokensPerSecond: 10 }) },
      singleHost: {}, updater: {},
    });
    const agentYaml = parseYaml(singleHostBundle(withUpdater, withUpdater.singleHost)['agent.yaml']);
    const parsed = parseConfig(agentYaml);
    const slo = parsed.images[0].slo ?? parsed.health.slo;
    expect([slo.server.name, slo.llmObjectives.map((o) => o.field)]).toEqual(['vllm', ['minTokensPerSecond']]);
    expect(slo.metricServedErrors(sel)).toBe(withUpdater.model.slo.metricServedErrors(sel));
  });
});

describe('docs/servers stays true', () => {
  test.each<[string, ModelServer]>([
    ['modelpilot', ModelServer.modelpilot()], ['vllm', ModelServer.vllm()], ['tgi', ModelServer.tgi()],
    ['triton', ModelServer.triton()], ['openai-compatible', ModelServer.openAiCompatible()],
  ])('the %s page names every metric, path and port the profile reads', (page, server) => {
    const text = require('fs').readFileSync(require('path').join(__dirname, '..', '..', 'docs', 'servers', `${page}.md`), 'utf8') as string;
    const names = (m: string | readonly string[]) => (typeof m === 'string' ? [m] : [...m]);
    const lat = server.latency;
    const read = [
      ...names(server.requests.metric), ...names(server.errors.metric),
      ...(lat.kind === 'histogram' ? [lat.metric] : [...names(lat.sum.metric), ...names(lat.count.metric)]),
      ...Object.entries(server.llm ?? {}).filter(([k]) => k !== 'matchers').map(([, v]) => String(v).replace(/_sum$/, '')),
      server.livenessPath, server.readinessPath, String(server.port), ...(server.metricsPort ? [String(server.metricsPort)] : []),
    ];
    expect(read.filter((x) => !text.includes(x))).toEqual([]);
  });
});
