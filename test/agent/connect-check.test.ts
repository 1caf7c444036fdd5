/**
 * `--check --connect` asks the host the agent will really contact (#27): with `registries.mirrors`, the mirror —
 * before, it asked the image host and reported FAIL on the documented working setup. A real HTTP server on
 * 127.0.0.1 stands in for the mirror's tag list; the image host (`registry.internal:5000`) resolves nowhere.
 */
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { connectCheck } from '../../agent/connect-check';
import { parseConfig } from '../../lib/core/contract/agent-config';

let server: http.Server;
let mirror: string;
const asked: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    asked.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ name: 'models/recsys', tags: ['1.0.0', '1.1.0'] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mirror = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => { await new Promise<void>((resolve) => server.close(() => resolve())); });

test('lists the tags at the mirror and names both hosts', async () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-connect-'));
  const config = parseConfig({
    targets: { kubernetes: { namespace: 'ml', inCluster: false, kubeconfig: '/nonexistent' } },
    images: [{ repository: 'registry.internal:5000/models/recsys' }],
    registries: { mirrors: { 'HTTPS://Registry.Internal:5000': mirror } }, stateDir,
  }, 'agent.yaml');
  const report = await connectCheck(config, 5_000);
  expect(report.lines[0]).toBe(`ok   agent -> registry registry.internal:5000 (via mirror ${mirror}): models/recsys lists 2 tag(s)`);
  expect(asked).toEqual(['/v2/models/recsys/tags/list?n=1000']);
});
