/**
 * @internal URLs the constructs render into manifests and configs (Prometheus addresses of the analysis and of
 * KEDA, the updater's Prometheus and MLflow, the registry's notification endpoint, receivers). Everything rendered
 * is plain text in Git and in the cluster, so a URL carrying credentials — a user:password or a token parameter —
 * is refused like a receiver's (#27); so is any URL its consumer cannot use. One definition, used by every construct.
 */

/** Query parameters that carry a credential. */
export const CREDENTIAL_PARAM = /^(token|access[-_]?token|auth|authorization|api[-_]?key|apikey|key|secret|password|passwd|pass|sig|signature|code)$/i;

/** The URL as it may be shown: scheme, host, path (no user, password or query). */
export function shownUrl(text: string): string {
  try {
    const u = new URL(text);
    if (/^https?:$/.test(u.protocol) && (u.username || u.password || u.search)) {
      return `${u.protocol}//${u.host}${u.pathname === '/' && !text.endsWith('/') ? '' : u.pathname}`;
    }
  } catch {
    // shown as given, a user:password masked
  }
  return text.replace(/\/\/[^/@\s]*@/, '//***@');
}

/**
 * Why `text` cannot be rendered as the http(s) URL of a service: not a URL, another scheme, no host, white space, a
 * user or password, a credential parameter. Undefined when it can. `credentialFix` says where the credential goes
 * instead (e.g. "give it as 'bearerToken' (a Secret key)"); `exposure` where it would show ('logged' for agent.yaml).
 */
export function httpUrlProblem(
  text: string, example: string, credentialFix = 'reach the service without credentials in the URL (the URL is rendered in plain text)', exposure = 'rendered in plain text',
): string | undefined {
  if (typeof text !== 'string') return `is not a URL; give e.g. '${example}'`;
  if (/\s/.test(text)) return `holds white space; give e.g. '${example}'`;
  let u: URL | undefined;
  try {
    u = new URL(text);
  } catch {
    // below
  }
  if (!u || !/^https?:$/.test(u.protocol) || !u.hostname) {
    const fix = /^[A-Za-z0-9.-]+:\d+(\/|$)/.test(text) ? `add the scheme: 'http://${text}'` : `use an http:// or https:// URL such as '${example}'`;
    return `is not an http(s) URL; ${fix}`;
  }
  if (u.username || u.password) {
    return `carries ${u.password ? 'a user and password' : 'a user name'}, which would be ${exposure}; ${credentialFix}`;
  }
  const param = [...u.searchParams.keys()].find((k) => CREDENTIAL_PARAM.test(k));
  if (param !== undefined) return `carries the credential parameter '${param}', which would be ${exposure}; ${credentialFix}`;
  return undefined;
}

/** Throws `'<field>' value '<url without credentials>' <problem>` when {@link httpUrlProblem} finds one. */
export function checkHttpUrl(field: string, text: string, example: string, credentialFix?: string): void {
  const problem = httpUrlProblem(text, example, credentialFix);
  if (problem) throw new Error(`'${field}' value '${shownUrl(String(text))}' ${problem}`);
}
