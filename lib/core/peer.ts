/**
 * @internal Optional peer dependencies: a feature that needs one loads it through {@link requirePeer}, which turns
 * "Cannot find module" into an error naming the package and the version to install. The versions are the ones
 * modelpilot is tested with (package.json `devDependencies`; a test keeps this list in step with `peerDependencies`).
 */
export const OPTIONAL_PEERS = {
  '@kubernetes/client-node': '0.22.3',
  '@pulumi/docker': '5.2.0',
  '@pulumi/kubernetes': '4.34.2',
  '@pulumi/pulumi': '3.248.0',
  'dockerode': '5.0.1',
  'ts-node': '10.9.2',
  'typescript': '5.9.3',
} as const;

/** One of the {@link OPTIONAL_PEERS}. */
export type OptionalPeer = keyof typeof OPTIONAL_PEERS;

/** Throws, naming the package and its install command, unless `name` resolves from this package. */
export function assertPeer(name: OptionalPeer, feature: string): void {
  try {
    require.resolve(name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
    throw new Error(`${feature} needs the package '${name}', which is not installed; install it with 'npm install ${name}@${OPTIONAL_PEERS[name]}'`);
  }
}

/** `require(name)`, or the error of {@link assertPeer} when the package is not installed. */
export function requirePeer<T>(name: OptionalPeer, feature: string): T {
  assertPeer(name, feature);
  return require(name) as T;
}
