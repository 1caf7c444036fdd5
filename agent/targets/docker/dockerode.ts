/**
 * Loads dockerode without the parts the agent never calls until they are called.
 *
 * dockerode requires, at load time, `@grpc/grpc-js` + `protobufjs` (its BuildKit session, used only by
 * `buildImage`) and docker-modem requires `ssh2` (used only for `ssh://` Docker hosts): a large share of the agent's RSS
 * for a Unix-socket or TCP client. While dockerode loads, those two internal modules are replaced by forwarders
 * that load the real module on their first call, so `buildImage` and `protocol: 'ssh'` still work, just loaded
 * then. Nothing else is touched, and the hook is removed as soon as dockerode has loaded.
 */
import Module from 'module';
import type DockerodeType from 'dockerode';
import { requirePeer } from '../../../lib/core/peer';

/** The internal modules made lazy: `require(request)` from a file under `dir`. Both export a single function. */
const LAZY: ReadonlyArray<{ readonly dir: string; readonly request: string }> = [
  { dir: '/dockerode/lib/', request: './session' },
  { dir: '/docker-modem/lib/', request: './ssh' },
];

type Load = (request: string, parent: NodeJS.Module | undefined, isMain: boolean) => unknown;
interface ModuleInternals {
  _load: Load;
  _resolveFilename(request: string, parent: NodeJS.Module | undefined, isMain: boolean): string;
}

let loaded: typeof DockerodeType | undefined;

/** The dockerode constructor (loaded once). */
export function loadDockerode(): typeof DockerodeType {
  if (loaded) return loaded;
  const M = Module as unknown as ModuleInternals;
  const load = M._load;
  M._load = function lazyLoad(request, parent, isMain) {
    const file = parent?.filename.replace(/\\/g, '/');
    if (file && LAZY.some((l) => l.request === request && file.includes(l.dir))) {
      const resolved = M._resolveFilename(request, parent, isMain);
      let real: ((...args: unknown[]) => unknown) | undefined;
      return function lazy(this: unknown, ...args: unknown[]): unknown {
        real ??= load(resolved, parent, false) as (...a: unknown[]) => unknown;
        return real.apply(this, args);
      };
    }
    return load.call(this, request, parent, isMain);
  };
  try {
    loaded = requirePeer<typeof DockerodeType>('dockerode', "the Docker target ('targets.docker')");
  } finally {
    M._load = load;
  }
  return loaded;
}
