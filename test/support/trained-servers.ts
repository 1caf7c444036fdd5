/**
 * The reference model server in-process on 127.0.0.1, one per model variant trained by
 * examples/model-server/train/train.ts (reference, shuffled labels, drift): for the quality gate's fast tests.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readConfig } from '../../examples/model-server/src/config';
import { ModelServer } from '../../examples/model-server/src/server';
import { renderModel, trainModel, Variant, VARIANTS } from '../../examples/model-server/train/train';

/** The golden set the repository ships for the reference model (train.ts --golden). */
export const GOLDEN_FILE = path.resolve(__dirname, '../../examples/model-server/golden/churn.jsonl');

export interface TrainedServers {
  /** Base URL of each variant's server. */
  readonly url: Readonly<Partial<Record<Variant, string>>>;
  stop(): Promise<void>;
}

export async function startTrainedServers(variants: readonly Variant[] = Object.keys(VARIANTS) as Variant[]): Promise<TrainedServers> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-trained-'));
  const servers: ModelServer[] = [];
  const url: Partial<Record<Variant, string>> = {};
  for (const v of variants) {
    const file = path.join(dir, `${v}.json`);
    fs.writeFileSync(file, renderModel(trainModel(VARIANTS[v])));
    const server = new ModelServer(readConfig({ PORT: '0', HOST: '127.0.0.1', MODEL_PATH: file }), { log: () => undefined, defaultMetrics: false });
    servers.push(server);
    const addr = await server.listen();
    await server.load();
    url[v] = `http://127.0.0.1:${addr.port}`;
  }
  return {
    url,
    stop: async () => {
      for (const s of servers) await s.drain();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
