import { Duration, parseDuration, Slo } from '../../lib';
import { toPromDuration } from '../../lib/core/duration';

describe('parseDuration / toPromDuration', () => {
  test.each([
    ['30s', 30_000], ['5m', 300_000], ['1h30m', 5_400_000], ['250ms', 250], ['1d', 86_400_000], ['1.5s', 1500], [' 2m ', 120_000],
  ])('parses %j', (text, ms) => {
    expect(parseDuration(text).toMilliseconds()).toBe(ms);
  });

  test.each(['', '5', '5 m', '5min', 'm5', '-5s', '1h 30m'])('throws if the text is %j', (text) => {
    expect(() => parseDuration(text, 'health.window')).toThrow(new Error(
      `'health.window' value '${text}' is not a duration; write it like '30s', '5m', '1h30m' or '250ms'`));
  });

  test.each([
    [Duration.minutes(5), '5m'], [Duration.seconds(90), '90s'], [Duration.hours(1), '1h'], [Duration.millis(250), '250ms'],
    [Duration.days(2), '2d'], [Duration.millis(0), '0s'],
  ])('renders %s as %s', (d, text) => {
    expect(toPromDuration(d)).toBe(text);
  });
});

describe('Slo', () => {
  test('defaults: 5 % errors over 5m, p99 1s, 3 failed scrapes, 0.1 req/s', () => {
    expect(Slo.DEFAULT.toJSON()).toEqual({
      maxErrorRatio: 0.05, window: '5m', maxP99Latency: '1s', maxFailedScrapes: 3, minRequestRate: 0.1,
      metrics: { requestTotal: 'model_request_total', inferenceSeconds: 'model_inference_seconds' },
    });
    expect(Slo.DEFAULT.maxP99Seconds).toBe(1);
  });

  test('renders PromQL for one model, with the version and extra labels escaped', () => {
    const slo = new Slo({ window: Duration.minutes(10) });
    expect(slo.metricRequestRate({ model: 'recsys' })).toBe('sum by (model, version) (rate(model_request_total{model="recsys"}[10m]))');
    expect(slo.metricErrorRatio({ model: 'recsys', version: '1.2.0' })).toBe(
      '(sum by (model, version) (rate(model_request_total{model="recsys",version="1.2.0",code=~"5.."}[10m])) or '
      + 'sum by (model, version) (rate(model_request_total{model="recsys",version="1.2.0"}[10m])) * 0) / '
      + 'sum by (model, version) (rate(model_request_total{model="recsys",version="1.2.0"}[10m]))');
    expect(slo.metricP99Latency({ model: 'a"b', extraLabels: { namespace: 'ml' } })).toBe(
      'histogram_quantile(0.99, sum by (model, version, le) (rate(model_inference_seconds_bucket{model="a\\"b",namespace="ml"}[10m])))');
  });

  test('custom metric names are used in PromQL', () => {
    const slo = new Slo({ metrics: { requestTotal: 'http_requests_total', inferenceSeconds: 'latency_seconds' } });
    expect(slo.metricRequestRate({ model: 'm' })).toContain('rate(http_requests_total{');
    expect(slo.metricP99Latency({ model: 'm' })).toContain('latency_seconds_bucket{');
  });

  test.each([
    [{ maxErrorRatio: 0 }, "'slo.maxErrorRatio' value 0 is outside (0, 1); give a ratio such as 0.05 for 5 %"],
    [{ window: Duration.seconds(30) }, "'slo.window' value '30s' is shorter than 1m; rates over shorter windows are noise, use at least Duration.minutes(1)"],
    [{ maxP99Latency: Duration.millis(0) }, "'slo.maxP99Latency' value '0s' must be positive; give a ceiling such as Duration.seconds(1)"],
    [{ maxFailedScrapes: 0 }, "'slo.maxFailedScrapes' value 0 must be a whole number of at least 1"],
    [{ minRequestRate: -1 }, "'slo.minRequestRate' value -1 must be a non-negative number of requests per second"],
    [{ metrics: { requestTotal: 'bad-name' } }, "'slo.metrics.requestTotal' value 'bad-name' is not a Prometheus metric name; use letters, digits, '_' and ':'"],
  ])('throws if %j', (props, message) => {
    expect(() => new Slo(props)).toThrow(new Error(message));
  });
});
