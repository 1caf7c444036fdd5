/**
 * The HAProxy runtime API client (agent/targets/docker/haproxy.ts) and the Docker target's blue/green helpers. The answers
 * parsed here were captured from Debian's HAProxy 2.6.12 (`show servers state`, `show stat`, errors); the
 * integration tier (test/agent/blue-green.integration.test.ts) drives the real HAProxy.
 */
import * as net from 'node:net';
import type Docker from 'dockerode';
import { DOCKER_LABELS, listenPort, metricScopeOf, parsePorts, retarget } from '../../agent/targets/docker';
import { HaproxyRuntime, parseServers } from '../../agent/targets/docker/haproxy';

const STATE = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 m 1 blue 127.0.0.1 2 0 1 1 2 6 3 4 6 0 0 0 - 18001 - 0 0 - - 0
3 m 2 green 127.0.0.1 2 8 1 1 0 6 3 2 6 0 0 0 - 18002 - 0 0 - - 0
4 other 1 blue 127.0.0.1 0 1 1 1 0 6 3 0 14 0 0 0 - 19001 - 0 0 - - 0

`;
const STAT = `# pxname,svname,qcur,qmax,scur,smax
fe,FRONTEND,,,3,10
m,blue,0,0,7,12
m,green,0,0,2,9
m,BACKEND,0,0,9,10
`;

describe('parseServers', () => {
  test('joins the state and the stats of one backend: admin state from the bits, UP only out of maintenance', () => {
    expect(parseServers('m', STATE, STAT)).toEqual([
      { name: 'blue', port: 18001, admin: 'ready', up: true, current: 7 },
      { name: 'green', port: 18002, admin: 'drain', up: true, current: 2 },
    ]);
    expect(parseServers('other', STATE, STAT)).toEqual([{ name: 'blue', port: 19001, admin: 'maint', up: false, current: 0 }]);
  });

  test('an answer without a header is an error quoting it', () => {
    expect(() => parseServers('m', 'Unknown command\n', STAT)).toThrow(/unexpected answer to 'show servers state m': Unknown command/);
  });
});

describe('HaproxyRuntime', () => {
  let server: net.Server;
  let port: number;
  const seen: string[] = [];
  const answers: Record<string, string> = {
    'show servers state m': STATE, 'show stat': STAT, 'show servers state nope': "Can't find backend.\n",
    'set server m/green state ready': '\n', 'set server m/nope state maint': 'No such server.\n',
  };
  beforeAll(async () => {
    // One command per connection, answered and closed, as HAProxy's non-interactive runtime API does.
    server = net.createServer((s) => s.once('data', (d) => {
      const cmd = String(d).trim();
      seen.push(cmd);
      s.end(answers[cmd] ?? 'Unknown command.\n');
    }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('reads the servers of a backend and sets a state; HAProxy\'s own error text is the error', async () => {
    const api = new HaproxyRuntime(`127.0.0.1:${port}`);
    expect((await api.servers('m')).map((s) => s.name)).toEqual(['blue', 'green']);
    await api.setState('m', 'green', 'ready');
    await expect(api.setState('m', 'nope', 'maint')).rejects.toThrow(`haproxy 127.0.0.1:${port}: set server m/nope state maint: No such server.`);
    await expect(api.servers('nope')).rejects.toThrow(/has no backend 'nope'; check haproxy.cfg and the container's label/);
    expect(seen).toContain('set server m/green state ready');
  });

  test('an address that is neither host:port nor a socket path is refused with the fix', () => {
    expect(() => new HaproxyRuntime('haproxy')).toThrow("haproxy runtime API address 'haproxy' is neither host:port nor an absolute unix socket path; "
      + "give e.g. '127.0.0.1:9999' (haproxy.cfg: 'stats socket ipv4@127.0.0.1:9999 level admin') or '/run/haproxy/admin.sock'");
    expect(() => new HaproxyRuntime('127.0.0.1:70000')).toThrow(/neither host:port/);
  });

  test('nothing listening is an error that says what HAProxy must have', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const p = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(new HaproxyRuntime(`127.0.0.1:${p}`).command('show stat')).rejects.toThrow(/ECONNREFUSED.*stats socket … level admin/);
  });
});

describe('blue/green helpers of the Docker target', () => {
  const c = (env: string[], labels: Record<string, string>, host: Record<string, unknown> = { NetworkMode: 'host' }) =>
    ({ Config: { Env: env, Labels: labels }, HostConfig: host } as unknown as Docker.ContainerInspectInfo);

  test('parsePorts takes two different ports and nothing else', () => {
    expect(parsePorts('9001,9002')).toEqual([9001, 9002]);
    expect(parsePorts(' 9001 , 9002 ')).toEqual([9001, 9002]);
    for (const bad of [undefined, '', '9001', '9001,9001', '9001,9002,9003', '0,9002', '9001,70000', 'a,b']) expect(parsePorts(bad)).toBeUndefined();
  });

  test('listenPort: PORT on host networking, the published host port otherwise', () => {
    expect(listenPort(c(['PORT=9001'], {}))).toBe(9001);
    expect(listenPort(c([], {}, { NetworkMode: 'bridge', PortBindings: { '8080/tcp': [{ HostPort: '9002' }] } }))).toBe(9002);
    expect(listenPort(c([], {}))).toBeUndefined();
  });

  test('retarget moves PORT, the ready URL and a selector naming the port; a published port moves instead of PORT', () => {
    const spec = retarget({
      Image: 'm:2', Env: ['PORT=9001', 'A=9001'],
      Labels: { [DOCKER_LABELS.readyUrl]: 'http://127.0.0.1:9001/health/ready', [DOCKER_LABELS.metricsSelector]: 'instance="127.0.0.1:9001"', other: ':9001' },
      HostConfig: { NetworkMode: 'host' },
    }, 9001, 9002);
    expect(spec.Env).toEqual(['A=9001', 'PORT=9002']);
    expect(spec.Labels).toEqual({
      [DOCKER_LABELS.readyUrl]: 'http://127.0.0.1:9002/health/ready', [DOCKER_LABELS.metricsSelector]: 'instance="127.0.0.1:9002"', other: ':9001',
    });
    const bridged = retarget({ Image: 'm:2', Env: ['X=1'], Labels: {}, HostConfig: { NetworkMode: 'bridge', PortBindings: { '8080/tcp': [{ HostPort: '9001' }] } } }, 9001, 9002);
    expect(bridged.HostConfig?.PortBindings).toEqual({ '8080/tcp': [{ HostPort: '9002' }] });
    expect(bridged.Env).toEqual(['X=1']);
  });

  test('the gate scope of a blue/green container covers both ports (the queries also select the version)', () => {
    expect(metricScopeOf(c(['PORT=9001'], { [DOCKER_LABELS.proxyBackend]: 'm', [DOCKER_LABELS.proxyPorts]: '9001,9002' }))).toEqual(['instance=~".+:(9001|9002)"']);
    expect(metricScopeOf(c(['PORT=9001'], {}))).toEqual(['instance=~".+:9001"']);
  });
});
