/**
 * The rotation the agent decided survives an HAProxy restart (#26 item 5), on Debian's HAProxy with the haproxy.cfg
 * modelpilot generates (lib/compose/haproxy.ts, `stateFile`): the agent's runtime client writes the server-state
 * file after every change; a restarted HAProxy loads it, so a version the agent keeps out of rotation is not put
 * back by the config's defaults. Two tiny HTTP servers stand in for the model's two slots (both ready).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { HaproxyRuntime } from '../../agent/targets/docker/haproxy';
import { portPair, startHaproxy, TestHaproxy } from '../support/single-host';
import { freePort, waitFor } from '../support/tools';

jest.setTimeout(120_000);

const slots: http.Server[] = [];
let haproxy: TestHaproxy | undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelpilot-haproxy-state-'));

afterAll(async () => {
  await haproxy?.stop();
  for (const s of slots) await new Promise((r) => s.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function run(withStateFile: boolean): Promise<Record<string, string>> {
  await haproxy?.stop();
  haproxy = undefined;
  const ports = await portPair();
  for (const p of ports) {
    const s = http.createServer((_req, res) => res.writeHead(200).end(`slot ${p}`));
    await new Promise<void>((r) => s.listen(p, '127.0.0.1', r));
    slots.push(s);
  }
  const stateFile = withStateFile ? path.join(dir, `server-state-${ports[0]}`) : undefined;
  const port = await freePort();
  const apiPort = await freePort();
  haproxy = await startHaproxy({ backend: 'churn', ports, stateFile, port, apiPort });
  const api = new HaproxyRuntime(haproxy.runtimeApi, 5000, stateFile);
  // the agent's decision: green (the new version) rejected, out of rotation; blue serving
  await api.setState('churn', 'green', 'maint');
  expect(api.stateFileError).toBeUndefined();
  const before = Object.fromEntries((await api.servers('churn')).map((s) => [s.name, s.admin]));
  expect(before).toEqual({ blue: 'ready', green: 'maint' });
  // HAProxy restarts (same config, same ports)
  await haproxy.stop();
  haproxy = await startHaproxy({ backend: 'churn', ports, stateFile, port, apiPort });
  await waitFor(async () => (await api.servers('churn').catch(() => [])).length === 2, { what: 'haproxy back', timeoutMs: 15_000 });
  return Object.fromEntries((await api.servers('churn')).map((s) => [s.name, s.admin]));
}

test('with the server-state file, a restarted HAProxy keeps the rejected version out of rotation', async () => {
  expect(await run(true)).toEqual({ blue: 'ready', green: 'maint' });
});

test('without it (the peer case), the config defaults put the rejected version back in rotation', async () => {
  const after = await run(false);
  expect(after).toEqual({ blue: 'ready', green: 'ready' });
});
