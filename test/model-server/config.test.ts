import { DEFAULT_MODEL_PATH, readConfig } from '../../examples/model-server/src/config';

describe('readConfig', () => {
  test('defaults: port 8080, no load delay, 10 s drain, every fault mode off', () => {
    const c = readConfig({});
    expect(c).toEqual({
      port: 8080,
      host: '0.0.0.0',
      modelName: undefined,
      modelVersion: undefined,
      modelPath: DEFAULT_MODEL_PATH,
      loadDelayMs: 0,
      listenAfterLoad: false,
      drainTimeoutMs: 10_000,
      faults: { errorRatio: 0, extraLatencyMs: 0, neverReady: false, crashOnStart: false, crashAfterMs: 0, crashWhenFile: undefined },
    });
  });

  test('reads every variable', () => {
    const c = readConfig({
      PORT: '9090',
      HOST: '127.0.0.1',
      MODEL_NAME: 'churn-eu',
      MODEL_VERSION: '1.2.0',
      MODEL_PATH: '/models/m.json',
      MODEL_LOAD_DELAY_MS: '5000',
      MODEL_LISTEN_AFTER_LOAD: 'true',
      DRAIN_TIMEOUT_MS: '20000',
      MODEL_FAULT_ERROR_RATIO: '0.25',
      MODEL_FAULT_EXTRA_LATENCY_MS: '300',
      MODEL_FAULT_NEVER_READY: 'true',
      MODEL_FAULT_CRASH_ON_START: 'yes', MODEL_FAULT_CRASH_AFTER_MS: '20000',
      MODEL_FAULT_CRASH_WHEN_FILE: '/faults/crash',
    });
    expect(c).toEqual({
      port: 9090,
      host: '127.0.0.1',
      modelName: 'churn-eu',
      modelVersion: '1.2.0',
      modelPath: '/models/m.json',
      loadDelayMs: 5000,
      listenAfterLoad: true,
      drainTimeoutMs: 20_000,
      faults: { errorRatio: 0.25, extraLatencyMs: 300, neverReady: true, crashOnStart: true, crashAfterMs: 20000, crashWhenFile: '/faults/crash' },
    });
  });

  test('blank values mean "unset"', () => {
    expect(readConfig({ PORT: '', MODEL_FAULT_NEVER_READY: ' ' }).port).toBe(8080);
  });

  test.each([
    ['PORT', '80a', "env PORT value '80a' is not an integer from 0 to 65535; set it like PORT=8080"],
    ['PORT', '70000', "env PORT value '70000' is not an integer from 0 to 65535; set it like PORT=8080"],
    ['MODEL_LOAD_DELAY_MS', '-5', "env MODEL_LOAD_DELAY_MS value '-5' is not an integer from 0 to 3600000; set it like MODEL_LOAD_DELAY_MS=0"],
    ['MODEL_FAULT_ERROR_RATIO', '1.5', "env MODEL_FAULT_ERROR_RATIO value '1.5' is not a ratio from 0 to 1; set it like MODEL_FAULT_ERROR_RATIO=0.25 (25% of requests fail)"],
    ['MODEL_FAULT_ERROR_RATIO', '50%', "env MODEL_FAULT_ERROR_RATIO value '50%' is not a ratio from 0 to 1; set it like MODEL_FAULT_ERROR_RATIO=0.25 (25% of requests fail)"],
    ['MODEL_FAULT_CRASH_WHEN_FILE', 'faults/crash', "env MODEL_FAULT_CRASH_WHEN_FILE value 'faults/crash' is not an absolute path; set it like MODEL_FAULT_CRASH_WHEN_FILE=/faults/crash"],
    ['MODEL_FAULT_NEVER_READY', 'maybe', "env MODEL_FAULT_NEVER_READY value 'maybe' is not a boolean; set it to 'true' or 'false'"],
    ['MODEL_NAME', 'churn model', "env MODEL_NAME value 'churn model' is not a valid model name; use letters, digits, '.', '_' or '-' (at most 63 characters)"],
  ])('throws if %s is %p', (name, value, message) => {
    expect(() => readConfig({ [name]: value })).toThrow(message);
  });
});
