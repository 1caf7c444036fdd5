/**
 * Entry point: `node src/main.js` (image) or `npx ts-node --transpile-only examples/model-server/src/main.ts`.
 * Reads the environment once, starts listening, loads the model (the other way round with MODEL_LISTEN_AFTER_LOAD),
 * and drains on SIGTERM/SIGINT:
 * exit 0 when every in-flight request finished within DRAIN_TIMEOUT_MS, exit 1 otherwise.
 * Node as PID 1 gets no default SIGTERM handling, so these handlers are what make `podman stop` / a pod
 * termination graceful.
 */
import * as fs from 'fs';
import { readConfig, ServerConfig } from './config';
import { jsonLog, ModelServer } from './server';

async function main(): Promise<void> {
  let config: ServerConfig;
  try {
    config = readConfig(process.env);
  } catch (err) {
    jsonLog('error', 'invalid configuration', { error: (err as Error).message });
    process.exit(2);
  }
  if (config.faults.crashOnStart) {
    jsonLog('error', 'crashing on start: fault MODEL_FAULT_CRASH_ON_START is on');
    process.exit(1);
  }
  let server: ModelServer;
  try {
    server = new ModelServer(config);
  } catch (err) {
    jsonLog('error', 'cannot load the model', { error: (err as Error).message });
    process.exit(1);
  }
  const stop = (signal: string): void => {
    jsonLog('info', 'signal received', { signal });
    void server.drain().then((drained) => process.exit(drained ? 0 : 1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (config.listenAfterLoad) {
    await server.load();
    await server.listen();
  } else {
    await server.listen();
    await server.load();
  }
  if (config.faults.crashAfterMs > 0) {
    setTimeout(() => {
      jsonLog('error', 'crashing: fault MODEL_FAULT_CRASH_AFTER_MS', { afterMs: config.faults.crashAfterMs });
      // exit 137 as after a SIGKILL (a SIGKILL to itself is ignored when the server is PID 1 in its container)
      process.exit(137);
    }, config.faults.crashAfterMs);
  }
  const trigger = config.faults.crashWhenFile;
  if (trigger !== undefined) {
    setInterval(() => {
      if (!fs.existsSync(trigger)) return;
      jsonLog('error', 'crashing: fault MODEL_FAULT_CRASH_WHEN_FILE', { file: trigger });
      process.exit(137);
    }, 200);
  }
}

main().catch((err: unknown) => {
  jsonLog('error', 'fatal', { error: (err as Error).message });
  process.exit(1);
});
