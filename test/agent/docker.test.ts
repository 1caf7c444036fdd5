/**
 * The pure part of the Docker target: what the new container is created with. The behaviour against a real
 * engine is in docker.integration.test.ts.
 */
import type Docker from 'dockerode';
import type { HttpResponse } from '../../agent/http-client';
import { DOCKER_LABELS, DockerInFlightRecord, DockerTarget, imageOf, recreateSpec, scopeOf, watched } from '../../agent/targets/docker';

const record: DockerInFlightRecord = {
  from: 'r/m:1.0.0', to: 'r/m:1.1.0', attempt: 1, startedAt: '2026-11-25T09:00:00.000Z', trigger: 'poll', name: 'm', previousId: 'abc', previousName: 'm-modelpilot-prev',
};

/** An inspect result as an engine returns it: the image's defaults merged into the container's config. */
function container(config: Record<string, unknown>, hostConfig: Record<string, unknown> = {}, networks: Record<string, unknown> = {}) {
  return {
    Id: '0123456789abcdef', Name: '/m', Image: 'sha256:old',
    Config: { Hostname: '0123456789ab', Env: [], Labels: {}, ...config },
    HostConfig: { NetworkMode: 'host', ...hostConfig },
    NetworkSettings: { Networks: networks },
  } as unknown as Docker.ContainerInspectInfo;
}

const image = (config: Record<string, unknown>): Docker.ImageInspectInfo => ({ Config: config } as unknown as Docker.ImageInspectInfo);

describe('recreateSpec', () => {
  const imageConfig = {
    Env: ['PATH=/usr/bin', 'MODEL_VERSION=1.0.0'], Cmd: ['node', 'server.js'], Entrypoint: null, WorkingDir: '/app', User: '1000',
    Labels: { 'org.opencontainers.image.version': '1.0.0' }, ExposedPorts: { '8080/tcp': {} },
  };

  test.each([
    [{ Name: 'no' }, { Name: 'no' }],
    [{ Name: 'on-failure', MaximumRetryCount: 2 }, { Name: 'on-failure', MaximumRetryCount: 2 }],
    [{ Name: '' }, { Name: 'unless-stopped' }],
    [undefined, { Name: 'unless-stopped' }],
  ])('the restart policy %j the user set is kept on the new container (%j)', (policy, expected) => {
    const old = container({ ...imageConfig }, { ...(policy ? { RestartPolicy: policy } : {}) });
    expect(recreateSpec(old, image(imageConfig), 'r/m:1.1.0', record).HostConfig?.RestartPolicy).toEqual(expected);
  });

  test('what the pod declared carries over (GPUs, memory, CPUs, read-only root, tmpfs); a CPU limit reported both ways is set once', () => {
    // podman's inspect of a container created with compose `cpus: 8` reports NanoCpus and the CpuPeriod/CpuQuota it implies
    const declared = {
      NanoCpus: 8e9, Memory: 48 * 1024 ** 3, MemoryReservation: 32 * 1024 ** 3, ReadonlyRootfs: true, Tmpfs: { '/tmp': 'size=256m' },
      CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges:true'], DeviceRequests: [{ Driver: 'nvidia', Count: 1, Capabilities: [['gpu']] }],
    };
    const old = container({ ...imageConfig }, { ...declared, CpuPeriod: 100000, CpuQuota: 800000 });
    const host = recreateSpec(old, image(imageConfig), 'r/m:1.1.0', record).HostConfig!;
    expect(host).toMatchObject(declared);
    expect(host).not.toHaveProperty('CpuPeriod');
    expect(host).not.toHaveProperty('CpuQuota');
    // a CPU limit given as period/quota alone stays as given
    const quota = recreateSpec(container({ ...imageConfig }, { CpuPeriod: 100000, CpuQuota: 50000 }), image(imageConfig), 'r/m:1.1.0', record).HostConfig!;
    expect(quota).toMatchObject({ CpuPeriod: 100000, CpuQuota: 50000 });
  });

  test('keeps only what was overridden on the container; the new image brings its own defaults', () => {
    // GIVEN a container that overrides PORT and a label, and otherwise runs with the image defaults
    const old = container({
      ...imageConfig, Env: [...imageConfig.Env, 'PORT=9000', 'HOSTNAME=vm'],
      Labels: { ...imageConfig.Labels, [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.inFlight]: '{"old":"record"}' },
    }, { RestartPolicy: { Name: 'always' }, Binds: ['/data:/data:ro'], PortBindings: {} });
    // WHEN
    const spec = recreateSpec(old, image(imageConfig), 'r/m:1.1.0', record);
    // THEN
    expect(spec.Image).toBe('r/m:1.1.0');
    expect(spec.Env).toEqual(['PORT=9000']);
    expect(spec.Labels).toEqual({ [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.inFlight]: JSON.stringify(record), [DOCKER_LABELS.image]: 'r/m:1.1.0' });
    expect(spec.Cmd).toBeUndefined();
    expect(spec.Entrypoint).toBeUndefined();
    expect(spec.WorkingDir).toBeUndefined();
    expect(spec.User).toBeUndefined();
    expect(spec.ExposedPorts).toBeUndefined();
    expect(spec.HostConfig).toEqual({ NetworkMode: 'host', RestartPolicy: { Name: 'always' }, Binds: ['/data:/data:ro'], PortBindings: {} });
    expect(spec.NetworkingConfig).toBeUndefined();
  });

  test('carries cmd, entrypoint, user, workdir, extra ports and stop settings that were overridden', () => {
    const old = container({
      ...imageConfig, Cmd: ['node', 'server.js', '--threads=4'], Entrypoint: ['/tini', '--'], User: '2000', WorkingDir: '/srv',
      ExposedPorts: { '8080/tcp': {}, '9090/tcp': {} }, StopSignal: 'SIGINT', StopTimeout: 30,
    });
    const spec = recreateSpec(old, image(imageConfig), 'r/m:1.1.0', record);
    expect(spec.Cmd).toEqual(['node', 'server.js', '--threads=4']);
    expect(spec.Entrypoint).toEqual(['/tini', '--']);
    expect(spec.User).toBe('2000');
    expect(spec.WorkingDir).toBe('/srv');
    expect(spec.ExposedPorts).toEqual({ '9090/tcp': {} });
    expect(spec.StopSignal).toBe('SIGINT');
    expect(spec.StopTimeout).toBe(30);
  });

  test('treats an empty entrypoint and StopTimeout 0 (what podman reports when unset) as not set', () => {
    const old = container({ ...imageConfig, Entrypoint: [], StopSignal: '15', StopTimeout: 0 });
    const spec = recreateSpec(old, image(imageConfig), 'r/m:1.1.0', record);
    expect(spec.Entrypoint).toBeUndefined();
    expect(spec.StopSignal).toBeUndefined();
    expect(spec.StopTimeout).toBeUndefined();
  });

  test('reconnects user-defined networks with their aliases, without the engine-made id alias', () => {
    const old = container(imageConfig, { NetworkMode: 'models' }, { models: { Aliases: ['recsys', '0123456789ab'], IPAMConfig: null } });
    const spec = recreateSpec(old, image(imageConfig), 'r/m:1.1.0', record);
    expect(spec.NetworkingConfig).toEqual({ EndpointsConfig: { models: { Aliases: ['recsys'] } } });
  });

  test('keeps everything when the old image is gone and its defaults cannot be told apart; MODEL_VERSION follows the new version', () => {
    const old = container({ ...imageConfig });
    const spec = recreateSpec(old, undefined, 'r/m:1.1.0', record);
    expect(spec.Env).toEqual(imageConfig.Env.map((e: string) => (e === 'MODEL_VERSION=1.0.0' ? 'MODEL_VERSION=1.1.0' : e)));
    expect(spec.Cmd).toEqual(imageConfig.Cmd);
  });

  test('a MODEL_VERSION set on the container to the old version follows the new one; another value is kept', () => {
    const plain = { ...imageConfig, Env: ['PATH=/usr/bin'] };
    const own = recreateSpec(container({ ...plain, Env: ['MODEL_VERSION=1.0.0', 'EXTRA=1'] }), image(plain), 'r/m:1.1.0', record);
    expect(own.Env).toEqual(['MODEL_VERSION=1.1.0', 'EXTRA=1']);
    const pinned = recreateSpec(container({ ...plain, Env: ['MODEL_VERSION=champion'] }), image(plain), 'r/m:1.1.0', record);
    expect(pinned.Env).toEqual(['MODEL_VERSION=champion']);
  });
});

describe('imageOf', () => {
  const digest = `sha256:${'c'.repeat(64)}`;
  test.each([
    ['the label when the engine dropped the tag of a pinned reference', `r.io/m@${digest}`, `r.io/m:1.1.0@${digest}`, `r.io/m:1.1.0@${digest}`],
    ['Config.Image when there is no label', 'r.io/m:1.0.0', undefined, 'r.io/m:1.0.0'],
    ['Config.Image when the label names another digest', `r.io/m@${digest}`, `r.io/m:1.1.0@sha256:${'d'.repeat(64)}`, `r.io/m@${digest}`],
    ['Config.Image when the label names another repository', 'r.io/m:1.0.0', 'r.io/x:1.0.0', 'r.io/m:1.0.0'],
  ])('reads %s', (_what, configured, label, expected) => {
    const c = container({ Image: configured, Labels: label ? { [DOCKER_LABELS.image]: label } : {} });
    expect(imageOf(c)).toBe(expected);
  });
});

describe('DockerTarget options', () => {
  test('throws if the stop timeout is not a whole number of seconds', () => {
    expect(() => new DockerTarget({ docker: {} as Docker, stopTimeoutSeconds: 1.5 }))
      .toThrow("docker target 'stopTimeoutSeconds' is 1.5; give a whole number of seconds, at least 0");
  });
});

describe('discover', () => {
  test('inspects an image for its repo digest once, not on every cycle', async () => {
    // GIVEN one running labelled container whose image has a repo digest, on a fake engine that counts calls
    const calls = { listContainers: 0, inspectContainer: 0, inspectImage: 0 };
    const inspected = {
      ...container({ Image: '127.0.0.1:5000/m:1.0.0', Labels: { [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.model]: 'm' } }),
      Image: 'sha256:img', State: { Running: true, Restarting: false, Status: 'running' },
    } as unknown as Docker.ContainerInspectInfo;
    const fake = {
      listContainers: async () => {
        calls.listContainers++;
        return [{ Id: inspected.Id, Names: ['/m'], Labels: inspected.Config.Labels, Image: '127.0.0.1:5000/m:1.0.0', State: 'running' }];
      },
      getContainer: () => ({ inspect: async () => { calls.inspectContainer++; return inspected; } }),
      getImage: () => ({ inspect: async () => { calls.inspectImage++; return { RepoDigests: [`127.0.0.1:5000/m@sha256:${'a'.repeat(64)}`] }; } }),
    } as unknown as Docker;
    const target = new DockerTarget({ docker: fake });
    // WHEN two cycles discover it
    const first = await target.discover();
    const second = await target.discover();
    // THEN both report the digest, the container is inspected each cycle, the image only once
    expect(first.map((w) => w.digest)).toEqual([`sha256:${'a'.repeat(64)}`]);
    expect(second).toEqual(first);
    // two lists per discover (modelpilot's label, Watchtower's), the image inspected once
    expect(calls).toEqual({ listContainers: 4, inspectContainer: 2, inspectImage: 1 });
  });
});

describe('a running current version that is unhealthy', () => {
  test('is reported down after `unhealthyAfter` failed readiness checks in a row, and revive restarts it', async () => {
    // GIVEN a running container whose readiness URL answers 503 (a hung model server still "runs")
    const restarted: number[] = [];
    const inspected = {
      ...container({ Image: 'r/m:1.0.0', Labels: { [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.readyUrl]: 'http://127.0.0.1:9001/health/ready' } }),
      State: { Running: true, Restarting: false, Status: 'running' },
    } as unknown as Docker.ContainerInspectInfo;
    const fake = {
      listContainers: async () => [{ Id: inspected.Id, Names: ['/m'], Labels: inspected.Config.Labels, Image: 'r/m:1.0.0', State: 'running' }],
      getContainer: () => ({ inspect: async () => inspected, restart: async (o: { t: number }) => { restarted.push(o.t); } }),
      getImage: () => ({ inspect: async () => ({ RepoDigests: [] }) }),
    } as unknown as Docker;
    let status = 503;
    const target = new DockerTarget({ docker: fake, unhealthyAfter: 2, stopTimeoutSeconds: 7, request: async (r) => ({
      status, ok: status < 300, headers: { raw: {}, get: () => undefined }, body: Buffer.from(''), url: r.url, text: () => '',
    }) as unknown as HttpResponse });
    // WHEN it is discovered three times
    const first = await target.discover();
    const second = await target.discover();
    // THEN the first failure is tolerated, the second reports it down with the reason
    expect(first[0].down).toBeUndefined();
    expect(second[0].down).toBe('container m is running but http://127.0.0.1:9001/health/ready failed 2 checks in a row (answered 503)');
    // AND revive restarts it with its stop timeout
    expect(await target.revive(second[0])).toEqual({ ok: true, value: 'container m restarted (it ran but was unhealthy)' });
    expect(restarted).toEqual([7]);
    // AND a ready answer resets the count
    status = 200;
    expect((await target.discover())[0].down).toBeUndefined();
    status = 503;
    expect((await target.discover())[0].down).toBeUndefined();
  });

  test('failed checks while the model loads (within the grace after its start) do not count', async () => {
    const inspected = {
      ...container({ Image: 'r/m:1.0.0', Labels: { [DOCKER_LABELS.enable]: 'true', [DOCKER_LABELS.readyUrl]: 'http://127.0.0.1:9001/health/ready' } }),
      State: { Running: true, Restarting: false, Status: 'running', StartedAt: new Date(Date.now() - 5000).toISOString() },
    } as unknown as Docker.ContainerInspectInfo;
    const fake = {
      listContainers: async () => [{ Id: inspected.Id, Names: ['/m'], Labels: inspected.Config.Labels, Image: 'r/m:1.0.0', State: 'running' }],
      getContainer: () => ({ inspect: async () => inspected }),
      getImage: () => ({ inspect: async () => ({ RepoDigests: [] }) }),
    } as unknown as Docker;
    let probes = 0;
    const target = new DockerTarget({ docker: fake, unhealthyAfter: 1, unhealthyGraceMs: 60_000, request: async () => { probes++; throw new Error('refused'); } });
    expect((await target.discover())[0].down).toBeUndefined();
    expect(probes).toBe(0);
  });
});

describe('Watchtower labels', () => {
  test.each<[Record<string, string>, boolean]>([
    [{ 'modelpilot.enable': 'true' }, true],
    [{ 'com.centurylinklabs.watchtower.enable': 'true' }, true],
    [{ 'com.centurylinklabs.watchtower.enable': 'false' }, false],
    [{ 'modelpilot.enable': 'false', 'com.centurylinklabs.watchtower.enable': 'true' }, false],
    [{}, false],
  ])('%j is watched: %s', (labels, expected) => {
    expect(watched(labels)).toBe(expected);
  });

  test('the scope is modelpilot\'s label, else Watchtower\'s', () => {
    expect(scopeOf({ 'com.centurylinklabs.watchtower.scope': 'prod' })).toBe('prod');
    expect(scopeOf({ 'modelpilot.scope': 'dev', 'com.centurylinklabs.watchtower.scope': 'prod' })).toBe('dev');
    expect(scopeOf({})).toBeUndefined();
  });
});
