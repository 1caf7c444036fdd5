/**
 * Schema validation of Kubernetes manifests: each object is checked against the JSON schema of its
 * apiVersion + kind, from kubernetes-models (core types) and @kubernetes-models/* (CRDs of the Prometheus Operator,
 * Argo CD and Argo Rollouts), plus a few checks the schemas cannot express (names, labels, selectors).
 */
import { DNS_LABEL_RE } from '../core/checks';
import { closestName } from '../core/closest-name';
import { checkApiServerRules } from './api-rules';
import { CORE_FIELDS } from './core-fields.generated';

/** One problem found in one object. */
export interface ValidationIssue {
  /** The object, as `Kind namespace/name` (or `Kind name` when it has no namespace). */
  readonly object: string;
  /** JSON path of the offending field, e.g. `$.spec.template.spec.containers[0].ports[0].containerPort`. */
  readonly path: string;
  /** What is wrong. */
  readonly message: string;
}

/** Options of {@link validateManifests}. */
export interface ValidateOptions {
  /**
   * Kinds with no known schema that are accepted without a check, as `apiVersion/Kind` (e.g. `example.com/v1/Widget`)
   * or `*` for every unknown kind.
   * @default - none: an object of an unknown kind is an error
   */
  readonly allowUnknownKinds?: readonly string[];
  /**
   * Accept fields that the Kubernetes API does not define (a misspelt `periodSecond`, a field of a newer release).
   * The check covers the core API types, described by @kubernetes/client-node's models (a table generated from them,
   * lib/validation/core-fields.generated.ts: the client itself need not be installed); CRD objects are checked
   * against their schema only.
   * @default false
   */
  readonly allowUnknownFields?: boolean;
}

/** The outcome of validating a set of objects. */
export interface ValidationResult {
  /** True when no issue was found. */
  readonly ok: boolean;
  /** Every issue, in object order. */
  readonly issues: readonly ValidationIssue[];
  /** Objects checked. */
  readonly checked: number;
}

/** Thrown by {@link assertValidManifests}; `issues` lists every problem. */
export class ManifestValidationError extends Error {
  constructor(public readonly issues: readonly ValidationIssue[]) {
    super(`${issues.length} invalid field(s):\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'ManifestValidationError';
  }
}

/** Renders an issue as `Kind ns/name: $.path: message`. */
export function formatIssue(issue: ValidationIssue): string {
  return `${issue.object}: ${issue.path}: ${issue.message}`;
}

interface SchemaModel {
  new (data: unknown): { validate(): void };
}

interface AjvLikeError {
  readonly instancePath?: string;
  readonly message?: string;
  readonly params?: Record<string, unknown>;
  readonly keyword?: string;
}

/** Packages that hold models, by API group. Core types come from kubernetes-models. */
const CRD_PACKAGES: Record<string, readonly string[]> = {
  'monitoring.coreos.com': ['@kubernetes-models/prometheus-operator'],
  'argoproj.io': ['@kubernetes-models/argo-cd', '@kubernetes-models/argo-rollouts'],
  'keda.sh': ['@kubernetes-models/keda'],
};

const modelCache = new Map<string, SchemaModel | null>();

/** Finds the model class of `apiVersion` + `kind`, or `undefined` when no installed package knows it. */
export function findSchemaModel(apiVersion: string, kind: string): SchemaModel | undefined {
  const key = `${apiVersion}/${kind}`;
  if (modelCache.has(key)) return modelCache.get(key) ?? undefined;
  let found: SchemaModel | null = null;
  if (/^[A-Za-z0-9.-]+(\/[A-Za-z0-9]+)?$/.test(apiVersion) && /^[A-Za-z][A-Za-z0-9]*$/.test(kind)) {
    const slash = apiVersion.indexOf('/');
    const group = slash < 0 ? '' : apiVersion.slice(0, slash);
    const packages = CRD_PACKAGES[group] ?? ['kubernetes-models'];
    for (const pkg of packages) {
      try {
        const mod = require(`${pkg}/${apiVersion}/${kind}`) as Record<string, SchemaModel>;
        if (typeof mod[kind] === 'function') {
          found = mod[kind];
          break;
        }
      } catch {
        // not in this package
      }
    }
  }
  modelCache.set(key, found);
  return found ?? undefined;
}

/** Validates one object and returns its issues (empty when valid). */
export function validateManifest(obj: unknown, options: ValidateOptions = {}): ValidationIssue[] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return [{ object: '(not an object)', path: '$', message: `expected a Kubernetes object, got ${JSON.stringify(obj)}` }];
  }
  const o = obj as Record<string, unknown>;
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  const id = describeObject(o);
  const issues: ValidationIssue[] = [];
  const add = (path: string, message: string) => issues.push({ object: id, path, message });

  if (typeof o.apiVersion !== 'string' || o.apiVersion === '') add('$.apiVersion', 'is missing');
  if (typeof o.kind !== 'string' || o.kind === '') add('$.kind', 'is missing');
  if (issues.length) return issues;

  const apiVersion = o.apiVersion as string;
  const kind = o.kind as string;
  const Model = findSchemaModel(apiVersion, kind);
  if (!Model) {
    const allowed = options.allowUnknownKinds ?? [];
    if (!allowed.includes('*') && !allowed.includes(`${apiVersion}/${kind}`)) {
      add('$', `no schema is known for apiVersion '${apiVersion}' kind '${kind}'; check the spelling, or allow it explicitly with allowUnknownKinds ['${apiVersion}/${kind}']`);
    }
  } else {
    try {
      const { apiVersion: _a, kind: _k, ...data } = o;
      new Model(data).validate();
    } catch (e) {
      const errors = (e as { errors?: AjvLikeError[] }).errors;
      if (!Array.isArray(errors)) {
        add('$', e instanceof Error ? e.message : String(e));
      } else {
        for (const err of dedupe(errors)) add(toJsonPath(err.instancePath ?? ''), describeAjv(err));
      }
    }
  }

  // What the schemas do not say.
  if (!options.allowUnknownFields) {
    const typeName = coreTypeName(apiVersion, kind);
    if (typeName) checkFields(o, typeName, '$', add);
  }
  if (typeof meta.name !== 'string' || meta.name === '') {
    add('$.metadata.name', 'is missing; every object needs a name');
  } else if (meta.name.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(meta.name)) {
    add('$.metadata.name', `'${meta.name}' is not a valid name; use lowercase letters, digits, '-' and '.', at most 253 characters`);
  }
  if (meta.namespace !== undefined && (typeof meta.namespace !== 'string' || !DNS_LABEL_RE.test(meta.namespace) || meta.namespace.length > 63)) {
    add('$.metadata.namespace', `'${String(meta.namespace)}' is not a valid namespace; use at most 63 lowercase letters, digits and '-'`);
  }
  checkLabels(meta.labels, '$.metadata.labels', add);
  // The API server's own rules; where one names a field, its message replaces the schema's terser ones there.
  const ruled: ValidationIssue[] = [];
  checkApiServerRules(o, (path, message) => ruled.push({ object: id, path, message }));
  const ruledPaths = new Set(ruled.map((i) => i.path));
  for (let i = issues.length - 1; i >= 0; i--) if (ruledPaths.has(issues[i].path.replace(/\.(\w+)$/, "['$1']")) || ruledPaths.has(issues[i].path)) issues.splice(i, 1);
  issues.push(...ruled);
  const spec = o.spec as Record<string, unknown> | undefined;
  const template = spec?.template as Record<string, unknown> | undefined;
  const templateMeta = template?.metadata as Record<string, unknown> | undefined;
  if (templateMeta) checkLabels(templateMeta.labels, '$.spec.template.metadata.labels', add);
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(kind) && apiVersion === 'apps/v1' && spec) {
    const matchLabels = ((spec.selector ?? {}) as Record<string, unknown>).matchLabels as Record<string, string> | undefined;
    const podLabels = (templateMeta?.labels ?? {}) as Record<string, string>;
    for (const [k, v] of Object.entries(matchLabels ?? {})) {
      if (podLabels[k] !== v) {
        add(`$.spec.selector.matchLabels['${k}']`, `selects '${v}' but the pod template's label is ${podLabels[k] === undefined ? 'missing' : `'${podLabels[k]}'`}; the selector must match the template labels`);
      }
    }
  }
  return issues;
}

/** Validates every object; never throws. */
export function validateManifests(objects: readonly unknown[], options: ValidateOptions = {}): ValidationResult {
  const issues: ValidationIssue[] = [];
  const seen = new Map<string, number>();
  objects.forEach((obj, i) => {
    issues.push(...validateManifest(obj, options));
    if (obj && typeof obj === 'object') {
      const key = describeObject(obj as Record<string, unknown>);
      if (seen.has(key)) {
        issues.push({ object: key, path: '$', message: `is defined twice (objects ${seen.get(key)! + 1} and ${i + 1}); names must be unique per kind and namespace` });
      } else {
        seen.set(key, i);
      }
    }
  });
  return { ok: issues.length === 0, issues, checked: objects.length };
}

/** Validates every object and throws a {@link ManifestValidationError} listing all issues if any is invalid. */
export function assertValidManifests(objects: readonly unknown[], options: ValidateOptions = {}): void {
  const result = validateManifests(objects, options);
  if (!result.ok) throw new ManifestValidationError(result.issues);
}

/** `Kind namespace/name`, or `Kind name` for cluster-scoped objects. */
export function describeObject(o: Record<string, unknown>): string {
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  const name = typeof meta.name === 'string' && meta.name ? meta.name : '(unnamed)';
  const kind = typeof o.kind === 'string' && o.kind ? o.kind : '(no kind)';
  return typeof meta.namespace === 'string' ? `${kind} ${meta.namespace}/${name}` : `${kind} ${name}`;
}

function checkLabels(labels: unknown, path: string, add: (path: string, message: string) => void): void {
  if (labels === undefined || labels === null || typeof labels !== 'object') return;
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    const [prefix, name] = k.includes('/') ? [k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1)] : [undefined, k];
    if ((prefix !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(prefix)) || !/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(name)) {
      add(`${path}['${k}']`, `label key '${k}' is invalid; use an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.'`);
    }
    if (typeof v !== 'string' || !/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(v)) {
      add(`${path}['${k}']`, `label value ${JSON.stringify(v)} is invalid; use at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric`);
    }
  }
}

function toJsonPath(instancePath: string): string {
  if (!instancePath) return '$';
  return '$' + instancePath.split('/').slice(1).map((seg) => {
    const s = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(s)) return `[${s}]`;
    if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(s)) return `.${s}`;
    return `['${s}']`;
  }).join('');
}

function describeAjv(err: AjvLikeError): string {
  const p = err.params ?? {};
  if (err.keyword === 'required' && typeof p.missingProperty === 'string') return `required field '${p.missingProperty}' is missing`;
  if (err.keyword === 'enum' && Array.isArray(p.allowedValues)) return `${err.message}: ${p.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (err.keyword === 'additionalProperties' && typeof p.additionalProperty === 'string') return `unknown field '${p.additionalProperty}'`;
  return err.message ?? 'is invalid';
}

function dedupe(errors: AjvLikeError[]): AjvLikeError[] {
  const seen = new Set<string>();
  // An int-or-string field reports once per branch of its oneOf/anyOf; keep one line per path and message.
  return errors.filter((e) => {
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf') return false;
    const key = `${e.instancePath}|${describeAjv(e)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `apps/v1` + `Deployment` -> `V1Deployment`, when client-node has that core type. */
function coreTypeName(apiVersion: string, kind: string): string | undefined {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  if (group !== '' && !group.endsWith('.k8s.io') && !['apps', 'batch', 'autoscaling', 'policy'].includes(group)) return undefined;
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  const name = version.charAt(0).toUpperCase() + version.slice(1) + kind;
  return CORE_FIELDS[name] ? name : undefined;
}

/** Reports every field of `value` that its type `typeName` does not define, recursively. */
function checkFields(value: unknown, typeName: string, path: string, add: (path: string, message: string) => void): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(typeName);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => checkFields(v, array[1], `${path}[${i}]`, add));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) checkFields(v, map[1], `${path}['${k}']`, add);
    return;
  }
  const fields = CORE_FIELDS[typeName];
  if (!fields || typeof value !== 'object' || Array.isArray(value)) return; // a leaf (string, IntOrString, object, …)
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const type = Object.prototype.hasOwnProperty.call(fields, key) ? fields[key] : undefined;
    if (type !== undefined) {
      checkFields(v, type, appendPath(path, key), add);
      continue;
    }
    const near = closestName(key, Object.keys(fields), 3);
    add(appendPath(path, key), `unknown field '${key}' (not part of ${typeName.replace(/^V\d\w*?(?=[A-Z])/, '')})${near ? `; did you mean '${near}'?` : ''}`);
  }
}

function appendPath(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}['${key}']`;
}
