/**
 * @internal The checks the Kubernetes API server (and Alertmanager's config loader) makes that the JSON schemas do
 * not express: name shapes per kind (a Service name is a DNS-1035 label), qualified keys of labels, annotations,
 * node selectors and tolerations, data keys of Secrets and ConfigMaps, quantities (sign and syntax), requests not
 * above limits, port and int32 ranges, user and group ids, Alertmanager route timing and label names. Each rule
 * follows k8s.io/apimachinery/pkg/util/validation and k8s.io/kubernetes/pkg/apis/core/validation; the cluster tier
 * applies nearest-valid twins of the rejected cases to a real API server.
 */
import { DNS_LABEL_RE, DNS_SUBDOMAIN_RE } from '../core/checks';

type Add = (path: string, message: string) => void;
type Obj = Record<string, unknown>;

const DNS1123_LABEL = DNS_LABEL_RE;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = DNS_SUBDOMAIN_RE;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;
const QUANTITY = /^([+-]?)(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/;
const PROM_LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const PROM_DURATION = /^((\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?|0)$/;
const INT32_MAX = 2 ** 31 - 1;

/** @internal Why a qualified key (`[prefix/]name`) is invalid, or undefined when it is valid. */
export function qualifiedKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const [prefix, name] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    return `its prefix '${prefix}' must be a lowercase DNS subdomain such as 'example.com'`;
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return "its name must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  }
  return undefined;
}

/** @internal True when `v` is a valid label value (empty, or at most 63 characters of the label alphabet). */
export function isLabelValue(v: unknown): boolean {
  return typeof v === 'string' && v.length <= 63 && LABEL_VALUE.test(v);
}

/** @internal A Kubernetes quantity in its base unit (cores, bytes), or undefined when it is not one. */
export function parseQuantity(q: unknown): number | undefined {
  const text = typeof q === 'number' ? String(q) : q;
  if (typeof text !== 'string') return undefined;
  const m = QUANTITY.exec(text);
  if (!m) return undefined;
  const n = Number(m[1] + m[2]);
  const suffix = m[4] ?? '';
  const bin: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
  const dec: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  if (suffix in bin) return n * bin[suffix];
  if (suffix in dec) return n * dec[suffix];
  return n * 10 ** Number(suffix.slice(1)); // exponent form, e.g. 1e3
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkRange(add: Add, path: string, v: unknown, min: number, max: number, what: string): void {
  if (typeof v !== 'number') return; // a wrong type is the schema's finding
  if (!Number.isInteger(v) || v < min || v > max) {
    add(path, `${JSON.stringify(v)} is out of range; ${what} must be a whole number from ${min} to ${max}`);
  }
}

function checkQualifiedKeys(add: Add, path: string, map: unknown, what: string): void {
  if (!isObj(map)) return;
  for (const k of Object.keys(map)) {
    const problem = qualifiedKeyProblem(k);
    if (problem) add(`${path}['${k}']`, `${what} key '${k}' is invalid: ${problem}`);
  }
}

function checkDataKeys(add: Add, path: string, map: unknown): void {
  if (!isObj(map)) return;
  for (const k of Object.keys(map)) {
    if (k.length > 253 || !DATA_KEY.test(k)) add(`${path}['${k}']`, `key '${k}' is invalid; use letters, digits, '-', '_' or '.' (at most 253)`);
  }
}

function checkResources(add: Add, path: string, res: unknown): void {
  if (!isObj(res)) return;
  const limits = isObj(res.limits) ? res.limits : {};
  const requests = isObj(res.requests) ? res.requests : {};
  for (const [section, map] of [['limits', limits], ['requests', requests]] as const) {
    for (const [name, q] of Object.entries(map)) {
      const v = parseQuantity(q);
      const p = `${path}.${section}['${name}']`;
      if (v === undefined) add(p, `${JSON.stringify(q)} is not a quantity; write it like '500m', '2', '512Mi' or '1Gi'`);
      else if (v < 0) add(p, `${JSON.stringify(q)} is negative; a resource ${section === 'limits' ? 'limit' : 'request'} must be 0 or more`);
    }
  }
  for (const [name, q] of Object.entries(requests)) {
    const r = parseQuantity(q);
    const l = parseQuantity(limits[name]);
    if (r !== undefined && l !== undefined && r > l) {
      add(`${path}.requests['${name}']`, `${JSON.stringify(q)} is above the limit ${JSON.stringify(limits[name])}; a request must be at most its limit`);
    }
  }
}

function checkSecurityContext(add: Add, path: string, sc: unknown): void {
  if (!isObj(sc)) return;
  for (const key of ['runAsUser', 'runAsGroup', 'fsGroup']) checkRange(add, `${path}.${key}`, sc[key], 0, INT32_MAX, key);
  if (Array.isArray(sc.supplementalGroups)) sc.supplementalGroups.forEach((g, i) => checkRange(add, `${path}.supplementalGroups[${i}]`, g, 0, INT32_MAX, 'a group id'));
}

function checkContainer(add: Add, path: string, c: unknown): void {
  if (!isObj(c)) return;
  if (typeof c.name === 'string' && (c.name.length > 63 || !DNS1123_LABEL.test(c.name))) {
    add(`${path}.name`, `'${c.name}' is not a valid container name; use at most 63 lowercase letters, digits and '-'`);
  }
  if (Array.isArray(c.ports)) {
    c.ports.forEach((p, i) => {
      if (!isObj(p)) return;
      checkRange(add, `${path}.ports[${i}].containerPort`, p.containerPort, 1, 65535, 'a port');
      checkRange(add, `${path}.ports[${i}].hostPort`, p.hostPort, 1, 65535, 'a port');
    });
  }
  checkResources(add, `${path}.resources`, c.resources);
  checkSecurityContext(add, `${path}.securityContext`, c.securityContext);
  if (Array.isArray(c.env)) {
    c.env.forEach((e, i) => {
      if (!isObj(e) || !isObj(e.valueFrom)) return;
      for (const ref of ['secretKeyRef', 'configMapKeyRef'] as const) {
        const r = e.valueFrom[ref];
        if (!isObj(r)) continue;
        const p = `${path}.env[${i}].valueFrom.${ref}`;
        if (typeof r.key !== 'string' || r.key.length > 253 || !DATA_KEY.test(r.key)) {
          add(`${p}.key`, `${JSON.stringify(r.key)} is not a valid key; name the key in the ${ref === 'secretKeyRef' ? 'Secret' : 'ConfigMap'} (letters, digits, '-', '_' or '.')`);
        }
        if (typeof r.name !== 'string' || r.name === '' || !DNS1123_SUBDOMAIN.test(r.name)) {
          add(`${p}.name`, `${JSON.stringify(r.name)} is not a valid ${ref === 'secretKeyRef' ? 'Secret' : 'ConfigMap'} name; use lowercase letters, digits, '-' and '.'`);
        }
      }
    });
  }
}

function checkPodSpec(add: Add, path: string, spec: unknown): void {
  if (!isObj(spec)) return;
  for (const list of ['initContainers', 'containers'] as const) {
    if (Array.isArray(spec[list])) (spec[list] as unknown[]).forEach((c, i) => checkContainer(add, `${path}.${list}[${i}]`, c));
  }
  checkSecurityContext(add, `${path}.securityContext`, spec.securityContext);
  checkQualifiedKeys(add, `${path}.nodeSelector`, spec.nodeSelector, 'node selector');
  if (isObj(spec.nodeSelector)) {
    for (const [k, v] of Object.entries(spec.nodeSelector)) {
      if (!isLabelValue(v)) add(`${path}.nodeSelector['${k}']`, `value ${JSON.stringify(v)} is not a label value; use at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric`);
    }
  }
  if (Array.isArray(spec.tolerations)) {
    spec.tolerations.forEach((t, i) => {
      if (isObj(t) && typeof t.key === 'string' && t.key !== '') {
        const problem = qualifiedKeyProblem(t.key);
        if (problem) add(`${path}.tolerations[${i}].key`, `'${t.key}' is invalid: ${problem}`);
      }
    });
  }
  if (Array.isArray(spec.volumes)) {
    spec.volumes.forEach((v, i) => {
      if (!isObj(v)) return;
      if (typeof v.name === 'string' && (v.name.length > 63 || !DNS1123_LABEL.test(v.name))) {
        add(`${path}.volumes[${i}].name`, `'${v.name}' is not a valid volume name; use at most 63 lowercase letters, digits and '-'`);
      }
      const claim = isObj(v.persistentVolumeClaim) ? v.persistentVolumeClaim.claimName : undefined;
      if (claim !== undefined && (typeof claim !== 'string' || !DNS1123_SUBDOMAIN.test(claim))) {
        add(`${path}.volumes[${i}].persistentVolumeClaim.claimName`, `${JSON.stringify(claim)} is not a valid claim name; use lowercase letters, digits, '-' and '.'`);
      }
      const secret = isObj(v.secret) ? v.secret.secretName : undefined;
      if (secret !== undefined && (typeof secret !== 'string' || !DNS1123_SUBDOMAIN.test(secret))) {
        add(`${path}.volumes[${i}].secret.secretName`, `${JSON.stringify(secret)} is not a valid Secret name; use lowercase letters, digits, '-' and '.'`);
      }
    });
  }
}

/** Alertmanager's route rules (the operator's AlertmanagerConfig, as amtool checks a native route). */
function checkRoute(add: Add, path: string, route: unknown): void {
  if (!isObj(route)) return;
  for (const key of ['groupWait', 'groupInterval', 'repeatInterval']) {
    const v = route[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !PROM_DURATION.test(v) || v === '') {
      add(`${path}.${key}`, `${JSON.stringify(v)} is not a duration; write it like '30s', '5m' or '4h'`);
    } else if ((key === 'groupInterval' || key === 'repeatInterval') && /^(0+[a-z]*)+$/.test(v)) {
      add(`${path}.${key}`, `'${v}' is zero; Alertmanager refuses it (${key === 'repeatInterval' ? 'repeat_interval' : 'group_interval'} cannot be zero); give for example '${key === 'repeatInterval' ? '4h' : '5m'}'`);
    }
  }
  if (Array.isArray(route.groupBy)) {
    route.groupBy.forEach((l, i) => {
      if (l !== '...' && (typeof l !== 'string' || !PROM_LABEL.test(l))) {
        add(`${path}.groupBy[${i}]`, `${JSON.stringify(l)} is not a label name; Alertmanager takes letters, digits and '_' (not starting with a digit), e.g. 'model_name', or '...'`);
      }
    });
  }
  if (Array.isArray(route.routes)) route.routes.forEach((r, i) => checkRoute(add, `${path}.routes[${i}]`, r));
}

const POD_TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'Rollout']);
const DNS1035_KINDS = new Set(['Service']);
const DNS1123_LABEL_KINDS = new Set(['Namespace', 'Service']);

/** @internal Adds every API-server rule the object breaks. */
export function checkApiServerRules(o: Obj, add: Add): void {
  const kind = String(o.kind);
  const meta = isObj(o.metadata) ? o.metadata : {};
  const name = meta.name;
  // (a name that is not even a DNS subdomain is reported by the generic name check)
  if (typeof name === 'string' && name !== '' && name.length <= 253 && DNS1123_SUBDOMAIN.test(name)) {
    if (DNS1035_KINDS.has(kind) && (name.length > 63 || !DNS1035_LABEL.test(name))) {
      add('$.metadata.name', `'${name}' is not a valid ${kind} name; a ${kind} name must start with a lowercase letter, then at most 62 lowercase letters, digits and '-' (DNS-1035: API servers before Kubernetes 1.36 refuse anything else)`);
    } else if (DNS1123_LABEL_KINDS.has(kind) && !DNS1035_KINDS.has(kind) && (name.length > 63 || !DNS1123_LABEL.test(name))) {
      add('$.metadata.name', `'${name}' is not a valid ${kind} name; use at most 63 lowercase letters, digits and '-'`);
    }
  }
  checkQualifiedKeys(add, '$.metadata.annotations', meta.annotations, 'annotation');
  if (isObj(meta.annotations) && Object.entries(meta.annotations).reduce((n, [k, v]) => n + k.length + String(v).length, 0) > 256 * 1024) {
    add('$.metadata.annotations', 'are larger than 256KiB in total; the API server refuses them, so keep large data in a ConfigMap');
  }
  const spec = isObj(o.spec) ? o.spec : undefined;
  if (kind === 'Secret' || kind === 'ConfigMap') {
    checkDataKeys(add, '$.data', o.data);
    checkDataKeys(add, '$.stringData', o.stringData);
    checkDataKeys(add, '$.binaryData', o.binaryData);
  }
  if (!spec) return;
  if (POD_TEMPLATE_KINDS.has(kind)) {
    checkRange(add, '$.spec.replicas', spec.replicas, 0, INT32_MAX, 'replicas');
    const template = isObj(spec.template) ? spec.template : undefined;
    if (template) {
      checkQualifiedKeys(add, '$.spec.template.metadata.annotations', isObj(template.metadata) ? template.metadata.annotations : undefined, 'annotation');
      checkPodSpec(add, '$.spec.template.spec', template.spec);
    }
  }
  if (kind === 'Pod') checkPodSpec(add, '$.spec', spec);
  if (kind === 'Service' && Array.isArray(spec.ports)) {
    spec.ports.forEach((p, i) => {
      if (!isObj(p)) return;
      checkRange(add, `$.spec.ports[${i}].port`, p.port, 1, 65535, 'a port');
      // targetPort 0 is defaulted to the port by the API server
      if (typeof p.targetPort === 'number' && p.targetPort !== 0) checkRange(add, `$.spec.ports[${i}].targetPort`, p.targetPort, 1, 65535, 'a port');
      if (p.nodePort !== undefined) checkRange(add, `$.spec.ports[${i}].nodePort`, p.nodePort, 1, 65535, 'a port');
    });
  }
  if (kind === 'HorizontalPodAutoscaler') {
    checkRange(add, '$.spec.minReplicas', spec.minReplicas, 1, INT32_MAX, 'minReplicas');
    checkRange(add, '$.spec.maxReplicas', spec.maxReplicas, 1, INT32_MAX, 'maxReplicas');
    if (typeof spec.minReplicas === 'number' && typeof spec.maxReplicas === 'number' && spec.maxReplicas < spec.minReplicas) {
      add('$.spec.maxReplicas', `${spec.maxReplicas} is below minReplicas ${spec.minReplicas}; make maxReplicas at least minReplicas`);
    }
  }
  if (kind === 'PersistentVolumeClaim' && isObj(spec.resources)) checkResources(add, '$.spec.resources', spec.resources);
  if (kind === 'AlertmanagerConfig') checkRoute(add, '$.spec.route', spec.route);
}
