/** @internal Prop checks shared by every construct: one definition each (no cdk8s). */
import { Duration, toPromDuration } from './duration';

/** @internal A DNS label (RFC 1123): the shape of most Kubernetes object names and of namespaces. */
export const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A DNS-1123 subdomain (dot-separated labels): Secret, ConfigMap and other object names (at most 253 characters). */
export const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** @internal */
export function isZero(value: number | string): boolean {
  return value === 0 || value === '0%' || value === '0';
}

/** @internal */
export function checkIntOrPercent(field: string, value: number | string): void {
  const ok = typeof value === 'number'
    ? Number.isInteger(value) && value >= 0
    : /^(100|[1-9]?\d)%$/.test(value);
  if (!ok) {
    throw new Error(`'${field}' value ${show(value)} is neither a whole number >= 0 nor a percentage such as '25%'`);
  }
}

/** @internal */
export function checkDnsName(field: string, value: string, max = 63): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || !DNS_LABEL_RE.test(value)) {
    throw new Error(`'${field}' value '${value}' is not a valid Kubernetes name; use at most ${max} lowercase letters, digits and '-', starting and ending with a letter or digit`);
  }
}

/** @internal */
export function checkPositive(field: string, d: Duration): number {
  const ms = d.toMilliseconds();
  if (!(ms > 0)) {
    throw new Error(`'${field}' value '${toPromDuration(d)}' must be positive; give for example Duration.seconds(10)`);
  }
  return ms;
}

/** @internal Throws if a construct was given no props object (JavaScript callers, `undefined as any`). */
export function checkProps(construct: string, props: unknown, example: string): void {
  if (props === null || typeof props !== 'object' || Array.isArray(props)) {
    throw new Error(`${construct} needs a props object, got ${props === null ? 'null' : Array.isArray(props) ? 'an array' : typeof props}; give for example ${example}`);
  }
}

/** @internal Shows a prop value in an error: numbers bare, strings in single quotes. */
export function show(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}
