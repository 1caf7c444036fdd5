/**
 * The Docker target against podman's Docker-compatible API (runc, host networking) and Debian's distribution
 * registry, all on 127.0.0.1. Versions 1.0.0 and 1.1.0 are good; 1.2.0 never gets ready (503 on /health/ready).
 */
import Docker from 'dockerode';
import { DistributionClient } from '../../agent/registry';
import { DOCKER_LABELS, DockerInFlightRecord, DockerTarget, SUFFIX } from '../../agent/targets/docker';
import { UpdatePlan, Workload } from '../../agent/types';
import { UpdatePolicy } from '../../lib/core/update-policy';
import { startPodman, TestPodman } from '../support/podman';
import { startRegistry, TestRegistry } from '../support/registry';
import { freePort, waitFor } from '../support/tools';
import { importBaseImage, pullImage, pushVersion } from './docker-fixture';

const REPO = 'test/srv';

describe('DockerTarget against podman', () => {
  let reg: TestRegistry;
  let pod: TestPodman;
  let docker: Docker;
  const ref = (v: string): string => `${reg.host}/${REPO}:${v}`;
  /** JSON-line log entries the targets wrote. */
  const logs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    reg = await startRegistry();
    pod = await startPodman({ insecureRegistries: [reg.host] });
    docker = new Docker({ socketPath: pod.socketPath });
    const base = await importBaseImage(pod);
    await pushVersion(pod, base, reg.host, REPO, '1.0.0');
    await pushVersion(pod, base, reg.host, REPO, '1.1.0');
    await pushVersion(pod, base, reg.host, REPO, '1.2.0', true);
    // Forget the local copies so that the target really pulls.
    await pod.podman(['rmi', ref('1.0.0'), ref('1.1.0'), ref('1.2.0')]);
    await pull(ref('1.0.0'));
  }, 300_000);

  afterAll(async () => {
    await pod?.stop();
    await reg?.stop();
  }, 120_000);

  const pull = (image: string): Promise<void> => pullImage(docker, image);

  /** Starts a model container on host networking, listening on `port`. */
  async function run(
    name: string, version: string, port: number, labels: Record<string, string> = {}, start = true, cmd?: string[],
  ): Promise<string> {
    await pull(ref(version));
    const c = await docker.createContainer({
      name,
      Image: ref(version),
      ...(cmd ? { Cmd: cmd } : {}),
      Env: [`PORT=${port}`, 'EXTRA=kept'],
      Labels: {
        [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.model]: 'srv', [DOCKER_LABELS.policy]: 'semver:minor',
        [DOCKER_LABELS.readyUrl]: `http://127.0.0.1:${port}/health/ready`, [DOCKER_LABELS.stopTimeout]: '2', ...labels,
      },
      HostConfig: { NetworkMode: 'host', RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } },
    });
    if (start) {
      await c.start();
      await waitFor(async () => (await served(port).catch(() => undefined)) === version, { what: `${name} to serve ${version}`, timeoutMs: 30_000 });
    }
    return c.id;
  }

  async function served(port: number): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    return ((await res.json()) as { version: string }).version;
  }

  async function names(prefix: string): Promise<string[]> {
    const list = await docker.listContainers({ all: true });
    return list.map((c) => c.Names[0].replace(/^\//, '')).filter((n) => n.startsWith(prefix)).sort();
  }

  function target(d: Docker = docker, scope?: string): DockerTarget {
    const log = (level: string) => (msg: string, fields?: Record<string, unknown>): void => {
      logs.push({ level, msg, ...fields });
    };
    return new DockerTarget({ docker: d, scope, pollIntervalMs: 100, logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') } });
  }

  async function workload(t: DockerTarget, name: string): Promise<Workload> {
    const w = (await t.discover()).find((x) => x.name === name);
    if (!w) throw new Error(`workload ${name} not discovered`);
    return w;
  }

  const planTo = (w: Workload, version: string): UpdatePlan => new UpdatePlan(w, w.image, ref(version), w.image.split(':').pop() as string, version, 'test');

  test('discovers running labelled containers, by scope, with model, policy and the digest that runs', async () => {
    // GIVEN containers in scope prod, in scope dev, without the label, and stopped
    await run('disc-prod', '1.0.0', await freePort(), { [DOCKER_LABELS.scope]: 'prod' });
    await run('disc-dev', '1.0.0', await freePort(), { [DOCKER_LABELS.scope]: 'dev', [DOCKER_LABELS.policy]: 'digest' });
    await run('disc-off', '1.0.0', await freePort(), { [DOCKER_LABELS.enable]: 'false' });
    await run('disc-stopped', '1.0.0', await freePort(), {}, false);
    // WHEN / THEN
    const prod = (await target(docker, 'prod').discover()).filter((w) => w.name.startsWith('disc-'));
    expect(prod.map((w) => w.id)).toEqual(['docker/disc-prod']);
    const all = (await target().discover()).filter((w) => w.name.startsWith('disc-'));
    expect(all.map((w) => w.name)).toEqual(['disc-dev', 'disc-prod']);
    const dev = all[0];
    expect(dev.model).toBe('srv');
    expect(dev.image).toBe(ref('1.0.0'));
    expect(dev.policy.toString()).toBe(UpdatePolicy.digest().toString());
    expect(dev.inFlight).toBeUndefined();
    const digest = await new DistributionClient().resolveDigest({ registry: reg.host, repository: REPO }, '1.0.0');
    expect(dev.digest).toBe(digest);
  });

  test('updates 1.0.0 -> 1.1.0: pre-pulls, keeps the old container stopped until promote, carries the config over', async () => {
    const port = await freePort();
    const oldId = await run('upd', '1.0.0', port);
    const t = target();
    const w = await workload(t, 'upd');
    // the loop pins plans to the digest: repo:1.1.0@sha256:…
    const digest = await new DistributionClient().resolveDigest({ registry: reg.host, repository: REPO }, '1.1.0');
    const pinned = `${ref('1.1.0')}@${digest}`;
    const plan = new UpdatePlan(w, w.image, pinned, '1.0.0', '1.1.0', 'test');

    // WHEN
    const applied = await t.apply(plan);
    // THEN the new container runs under the original name, the old one is parked and stopped
    expect(applied).toEqual({ ok: true, value: undefined });
    expect(await names('upd')).toEqual(['upd', `upd${SUFFIX.prev}`]);
    const old = await docker.getContainer(oldId).inspect();
    expect(old.Name).toBe(`/upd${SUFFIX.prev}`);
    expect(old.State.Running).toBe(false);
    expect(old.State.ExitCode).toBe(0); // stopped gracefully (SIGTERM) within its stop timeout
    const fresh = await docker.getContainer('upd').inspect();
    expect(fresh.Config.Cmd).toEqual(['/usr/bin/node', '/app/server.js']); // the image's own, not an override
    expect(fresh.Id).not.toBe(oldId);
    // podman stores a pinned reference without its tag; the agent's label keeps it as planned
    expect(fresh.Config.Image).toContain(`@${digest}`);
    expect(fresh.Config.Labels[DOCKER_LABELS.image]).toBe(pinned);
    // env overridden on the container carries over; the image's own MODEL_VERSION is the NEW image's
    expect(fresh.Config.Env).toEqual(expect.arrayContaining([`PORT=${port}`, 'EXTRA=kept', 'MODEL_VERSION=1.1.0']));
    expect(fresh.Config.Env).not.toContain('MODEL_VERSION=1.0.0');
    expect(fresh.HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 3 });
    expect(fresh.HostConfig.NetworkMode).toBe('host');
    expect(fresh.Config.Labels[DOCKER_LABELS.model]).toBe('srv');
    const rec = JSON.parse(fresh.Config.Labels[DOCKER_LABELS.inFlight]) as DockerInFlightRecord;
    expect(rec).toMatchObject({ from: ref('1.0.0'), to: pinned, attempt: 1, trigger: 'test', name: 'upd', previousId: oldId });
    // AND discovery reports the update in flight, with the new image running
    const during = await workload(t, 'upd');
    expect(during.inFlight).toMatchObject({ from: ref('1.0.0'), to: pinned });
    expect(during.image).toBe(pinned);
    expect(during.digest).toBe(digest);

    // WHEN ready and promoted
    expect(await t.waitReady(plan, 30_000)).toEqual({ status: 'Healthy', reason: `http://127.0.0.1:${port}/health/ready answered 2xx` });
    expect(await served(port)).toBe('1.1.0');
    expect(await t.promote(plan)).toEqual({ ok: true, value: undefined });
    // THEN the old container is gone and nothing is in flight
    expect(await names('upd')).toEqual(['upd']);
    const after = await workload(t, 'upd');
    expect(after.inFlight).toBeUndefined();
    expect(after.image).toBe(pinned);
  });

  test('a version that never gets ready is Unhealthy, and rollback restores the very same old container', async () => {
    const port = await freePort();
    const oldId = await run('bad', '1.1.0', port);
    const t = target();
    const plan = planTo(await workload(t, 'bad'), '1.2.0');
    expect((await t.apply(plan)).ok).toBe(true);

    const health = await t.waitReady(plan, 3000);
    expect(health.status).toBe('Unhealthy');
    expect(health.reason).toContain('answered 503');

    expect(await t.rollback(plan)).toEqual({ ok: true, value: undefined });
    const back = await docker.getContainer('bad').inspect();
    expect(back.Id).toBe(oldId);
    expect(back.State.Running).toBe(true);
    expect(await names('bad')).toEqual(['bad']);
    await waitFor(async () => (await served(port).catch(() => undefined)) === '1.1.0', { what: 'bad to serve 1.1.0 again', timeoutMs: 30_000 });
    // the failed image is kept (nothing is lost), and nothing is in flight any more
    expect((await docker.getImage(ref('1.2.0')).inspect()).Id).toMatch(/^sha256:|^[a-f0-9]{64}$/);
    expect((await workload(t, 'bad')).inFlight).toBeUndefined();
  });

  test('an agent killed mid-apply (old stopped, new not started): a new agent sees the record and reverses it', async () => {
    const port = await freePort();
    const oldId = await run('crash', '1.0.0', port);
    // GIVEN a docker client whose start of the new container "dies"
    const faulty = Object.create(docker) as Docker;
    faulty.createContainer = async (opts: Docker.ContainerCreateOptions) => {
      const c = await docker.createContainer(opts);
      c.start = async () => {
        throw new Error('agent killed');
      };
      return c;
    };
    const t1 = target(faulty);
    const plan = planTo(await workload(t1, 'crash'), '1.1.0');
    const r = await t1.apply(plan);
    expect(r.ok).toBe(false);
    expect((await docker.getContainer(oldId).inspect()).State.Running).toBe(false);

    // WHEN a fresh agent (no memory) discovers
    const t2 = target();
    const w = await workload(t2, 'crash');
    // THEN it sees the update in flight, and that the new version does not run
    expect(w.inFlight).toMatchObject({ from: ref('1.0.0'), to: ref('1.1.0') });
    expect(w.image).toBe(ref('1.0.0'));
    // AND reverses it from the record on the containers
    const fromRecord = new UpdatePlan(w, w.inFlight!.from, w.inFlight!.to, '1.0.0', '1.1.0', w.inFlight!.trigger, w.inFlight!.attempt);
    expect(await t2.rollback(fromRecord)).toEqual({ ok: true, value: undefined });
    const back = await docker.getContainer('crash').inspect();
    expect(back.Id).toBe(oldId);
    expect(back.State.Running).toBe(true);
    expect(await names('crash')).toEqual(['crash']);
    await waitFor(async () => (await served(port).catch(() => undefined)) === '1.0.0', { what: 'crash to serve 1.0.0 again', timeoutMs: 30_000 });
  });

  test('an agent killed after start and before promote: a new agent sees the new version running and can finish', async () => {
    const port = await freePort();
    await run('resume', '1.0.0', port);
    const plan = planTo(await workload(target(), 'resume'), '1.1.0');
    expect((await target().apply(plan)).ok).toBe(true);

    const t2 = target();
    const w = await workload(t2, 'resume');
    expect(w.inFlight).toMatchObject({ to: ref('1.1.0') });
    expect(w.image).toBe(ref('1.1.0'));
    const fromRecord = new UpdatePlan(w, w.inFlight!.from, w.inFlight!.to, '1.0.0', '1.1.0', w.inFlight!.trigger, w.inFlight!.attempt);
    expect((await t2.waitReady(fromRecord, 30_000)).status).toBe('Healthy');
    expect(await t2.promote(fromRecord)).toEqual({ ok: true, value: undefined });
    expect(await names('resume')).toEqual(['resume']);
    expect(await served(port)).toBe('1.1.0');
  });

  test('honours the stop timeout (a process ignoring SIGTERM is killed after it) and carries an overridden command', async () => {
    const port = await freePort();
    const stubborn = [
      '/usr/bin/node', '-e',
      "process.on('SIGTERM', () => {}); require('http').createServer((q, r) => r.end(q.url === '/health/ready' ? 'ok' : " +
        "JSON.stringify({ version: process.env.MODEL_VERSION }))).listen(Number(process.env.PORT), '127.0.0.1')",
    ];
    const oldId = await run('stubborn', '1.0.0', port, { [DOCKER_LABELS.stopTimeout]: '1' }, true, stubborn);
    const t = target();
    const plan = planTo(await workload(t, 'stubborn'), '1.1.0');
    expect((await t.apply(plan)).ok).toBe(true);
    const old = await docker.getContainer(oldId).inspect();
    expect(old.State.Running).toBe(false);
    expect(old.State.ExitCode).toBe(137); // SIGKILL once the 1 s stop timeout ran out
    const fresh = await docker.getContainer('stubborn').inspect();
    expect(fresh.Config.Cmd).toEqual(stubborn);
    expect((await t.waitReady(plan, 30_000)).status).toBe('Healthy');
    expect(await served(port)).toBe('1.1.0');
    expect((await t.promote(plan)).ok).toBe(true);
  });

  test.each([
    ['1.1.0', 'Healthy', 'HEALTHCHECK is healthy'],
    ['1.2.0', 'Unhealthy', 'HEALTHCHECK is unhealthy'],
  ])('without a ready URL, waits on the container HEALTHCHECK: %s is %s', async (version, status, reason) => {
    const port = await freePort();
    const name = `hc-${version.replace(/\./g, '')}`;
    await pull(ref('1.0.0'));
    const c = await docker.createContainer({
      name, Image: ref('1.0.0'), Env: [`PORT=${port}`],
      Labels: { [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.stopTimeout]: '2' },
      Healthcheck: {
        // no spaces inside the script: podman's compat API re-splits a CMD healthcheck on white space
        Test: ['CMD', '/usr/bin/node', '-e', "fetch('http://127.0.0.1:'+process.env.PORT+'/health/ready').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"],
        Interval: 1e9, Timeout: 5e9, Retries: 1, StartPeriod: 5e9,
      },
      HostConfig: { NetworkMode: 'host' },
    });
    await c.start();
    const t = target();
    const plan = planTo(await workload(t, name), version);
    expect((await t.apply(plan)).ok).toBe(true);
    // the healthcheck carried over to the new container
    expect((await docker.getContainer(name).inspect()).Config.Healthcheck?.Test?.[0]).toBe('CMD');
    // Podman runs healthchecks from systemd timers, absent here: run them by hand while waitReady waits.
    let waiting = true;
    const driver = (async () => {
      while (waiting) {
        await pod.podman(['healthcheck', 'run', name]).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const health = await t.waitReady(plan, 30_000).finally(() => {
      waiting = false;
    });
    await driver;
    expect(health.status).toBe(status);
    expect(health.reason).toContain(reason);
    expect((await (status === 'Healthy' ? t.promote(plan) : t.rollback(plan))).ok).toBe(true);
    expect(await names(name)).toEqual([name]);
  });

  test('a pull that fails changes nothing', async () => {
    const port = await freePort();
    const oldId = await run('nopull', '1.0.0', port);
    const t = target();
    const plan = planTo(await workload(t, 'nopull'), '9.9.9');
    const r = await t.apply(plan);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toContain('9.9.9');
    expect(logs).toContainEqual(expect.objectContaining({ level: 'error', msg: 'docker: apply failed', target: 'docker/nopull' }));
    expect(await names('nopull')).toEqual(['nopull']);
    const same = await docker.getContainer('nopull').inspect();
    expect(same.Id).toBe(oldId);
    expect(same.State.Running).toBe(true);
  });
});
