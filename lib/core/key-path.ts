/**
 * @internal Key paths in error messages (`'images[0].policy' value …`), shared by the agent config and the Pulumi
 * stack config, which both report zod issues by path.
 */

/**
 * `['images', 0, 'policy']` → `images[0].policy`; after `base` when given, e.g. `modelpilot:registry` and
 * `['host']` → `modelpilot:registry.host`.
 */
export function formatKeyPath(path: readonly PropertyKey[], base = ''): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : `${s === '' ? '' : `${s}.`}${String(k)}`), base);
}

/** The value at `path` inside `root`, or `undefined` when the path does not exist. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}
