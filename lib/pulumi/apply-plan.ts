import { ApiObject, Chart } from 'cdk8s';

/** A Kubernetes object as cdk8s synthesizes it. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly [k: string]: unknown };
  readonly [k: string]: unknown;
}

/** One synthesized object with the stack section (`model`, `registry`, `monitoring`, …) that made it. */
export interface SectionedObject {
  /** The section: the id of the construct directly under the chart, lowercased (`Model` → `model`). */
  readonly section: string;
  readonly object: KubeObject;
}

/** One object in apply order, with the keys of the objects that must exist before it. */
export interface PlannedObject extends SectionedObject {
  /** Unique, stable key; also the Pulumi resource name suffix: `<section>-<kind>-<name>`. */
  readonly key: string;
  /** Keys of the objects this one is applied after. */
  readonly dependsOn: readonly string[];
}

/**
 * Synthesizes `chart` in process and returns its objects with their sections, in the chart's own order.
 * Objects are resolved exactly as `cdk8s synth` writes them (labels, namespace, resolved tokens).
 */
export function synthObjects(chart: Chart): SectionedObject[] {
  const json = chart.toJson() as KubeObject[];
  // toJson() orders objects by their declared dependencies; match each back to its construct for the section.
  const byIdentity = new Map<string, string>();
  for (const c of chart.node.findAll()) {
    if (!ApiObject.isApiObject(c)) continue;
    const rel = c.node.path.slice(chart.node.path.length).split('/').filter((s) => s !== '');
    const section = (rel.length > 1 ? rel[0] : 'stack').toLowerCase();
    byIdentity.set(identity(c.apiVersion, c.kind, c.metadata.namespace, c.name), section);
  }
  return json.map((object) => ({
    section: byIdentity.get(identity(object.apiVersion, object.kind, object.metadata.namespace, object.metadata.name)) ?? 'stack',
    object,
  }));
}

/** The API group of an apiVersion (`''` for the core group). */
export function apiGroup(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** True for groups the API server serves itself (core, `apps`, `*.k8s.io`, …); false for groups that need a CRD. */
export function isBuiltinGroup(group: string): boolean {
  return group === '' || !group.includes('.') || group.endsWith('.k8s.io');
}

/**
 * Orders objects for applying and records what each one waits for:
 *
 * - CustomResourceDefinitions come first, and every custom resource depends on the CRD in the set that defines its
 *   group and kind (a CR whose CRD is installed elsewhere, e.g. by an operator's chart, has no such dependency);
 * - the `registry` section comes before the `model` section, and every model object depends on every registry object,
 *   so the model is never scheduled against a registry that does not exist yet;
 * - the `updater` section comes after the model and waits for the model's Deployments: the agent starts with its
 *   target in place;
 * - everything else keeps the chart's order.
 *
 * @throws if two objects share a key (same section, kind and name)
 */
export function planApply(objects: readonly SectionedObject[]): PlannedObject[] {
  const keyed = objects.map((o) => ({ ...o, key: objectKey(o) }));
  const seen = new Set<string>();
  for (const o of keyed) {
    if (seen.has(o.key)) {
      throw new Error(`object '${o.key}' appears twice in the synthesized stack; give the second ${o.object.kind} another 'metadata.name'`);
    }
    seen.add(o.key);
  }
  const crds = keyed.filter((o) => o.object.kind === 'CustomResourceDefinition' && apiGroup(o.object.apiVersion) === 'apiextensions.k8s.io');
  const crdFor = new Map<string, string>();
  for (const c of crds) {
    const spec = (c.object.spec ?? {}) as { group?: string; names?: { kind?: string } };
    if (spec.group && spec.names?.kind) crdFor.set(`${spec.group}/${spec.names.kind}`, c.key);
  }
  const registryKeys = keyed.filter((o) => o.section === 'registry').map((o) => o.key);
  const modelDeploymentKeys = keyed.filter((o) => o.section === 'model' && o.object.kind === 'Deployment').map((o) => o.key);

  const rank = (o: { section: string; object: KubeObject }) => {
    if (o.object.kind === 'CustomResourceDefinition') return 0;
    if (o.section === 'registry') return 1;
    if (o.section === 'model') return 2;
    return 3;
  };
  const ordered = keyed
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i)
    .map(({ o }) => o);

  return ordered.map((o) => {
    const deps: string[] = [];
    const group = apiGroup(o.object.apiVersion);
    if (!isBuiltinGroup(group)) {
      const crd = crdFor.get(`${group}/${o.object.kind}`);
      if (crd) deps.push(crd);
    }
    if (o.section === 'model') deps.push(...registryKeys);
    if (o.section === 'updater') deps.push(...modelDeploymentKeys);
    return { section: o.section, object: o.object, key: o.key, dependsOn: deps };
  });
}

/** `<section>-<kind>-<name>`, lowercase: the stable suffix of an object's Pulumi resource name. */
export function objectKey(o: SectionedObject): string {
  return `${o.section}-${o.object.kind.toLowerCase()}-${o.object.metadata.name}`;
}

/**
 * Replaces the image of every container (and init container) of a pod template whose image is `from`.
 * Returns a copy; `to` may be any value (for Pulumi, an Output).
 */
export function replaceContainerImage<T>(object: KubeObject, from: string, to: T): KubeObject {
  // a JSON copy, not structuredClone: that returns the main realm's arrays, which a vm context (jest) does not see as
  // arrays, so the SDK would serialize them as objects ({0: …}) and the API server would refuse them
  const copy = JSON.parse(JSON.stringify(object)) as Record<string, unknown>;
  let replaced = 0;
  const visitPodSpec = (pod: Record<string, unknown> | undefined) => {
    for (const field of ['containers', 'initContainers']) {
      const list = pod?.[field];
      if (!Array.isArray(list)) continue;
      for (const c of list as Array<Record<string, unknown>>) {
        if (c.image === from) {
          c.image = to;
          replaced++;
        }
      }
    }
  };
  const spec = copy.spec as Record<string, unknown> | undefined;
  visitPodSpec((spec?.template as Record<string, unknown> | undefined)?.spec as Record<string, unknown> | undefined);
  const jobTemplate = (spec?.jobTemplate as Record<string, unknown> | undefined)?.spec as Record<string, unknown> | undefined;
  visitPodSpec(((jobTemplate?.template as Record<string, unknown> | undefined)?.spec) as Record<string, unknown> | undefined);
  return replaced === 0 ? object : (copy as unknown as KubeObject);
}

function identity(apiVersion: string, kind: string, namespace: string | undefined, name: string | undefined): string {
  return `${apiVersion}|${kind}|${namespace ?? ''}|${name ?? ''}`;
}
