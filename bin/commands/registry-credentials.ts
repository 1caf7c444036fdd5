/**
 * `modelpilot registry-credentials`: generates the credentials of the in-cluster registry (authentication is on by
 * default): a random password, the `<name>-htpasswd` Secret the registry checks (bcrypt, as distribution requires)
 * and the `<name>-pull` Secret (`kubernetes.io/dockerconfigjson`) that the kubelet and the updater pull with.
 * The output is YAML for `kubectl apply -f -` (or a sealed-secrets / SOPS step); the password is in it once.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as bcrypt from 'bcryptjs';
import { checkOutputFile, isManifestYaml } from '../../agent/files';
import { DNS_LABEL_RE } from '../../lib/core/checks';
import { K8S_LABELS } from '../../lib/core/contract/names';
import { portableYaml } from '../../lib/core/yaml';
import { parseCommandArgs } from '../args';

const USAGE = `usage: modelpilot registry-credentials --namespace <ns> [--name model-registry] [--port 5000] [--host <host:port>]
                                      [--user modelpilot] [--out <file>]

Generates a random password and two Secrets for ModelRegistry.inCluster(): '<name>-htpasswd' (key htpasswd, bcrypt)
for the registry and '<name>-pull' (kubernetes.io/dockerconfigjson) for the kubelet and the updater. Apply them with
'kubectl apply -f <file>' before the stack. CI pushes with the same user and password (read them from the pull
Secret). Writes YAML to --out (mode 0600) or stdout.
  --host   the registry host in image references (default: <name>.<namespace>.svc:<port>)
Exit status: 0 written, 2 on usage errors.
`;

export async function run(argv: string[]): Promise<number> {
  const args = parseCommandArgs(argv, {
    namespace: { type: 'string', short: 'n', needs: "a namespace, e.g. '--namespace ml'" },
    name: { type: 'string', needs: "the registry's name, e.g. '--name model-registry'" },
    port: { type: 'string', needs: "a port, e.g. '--port 5000'" },
    host: { type: 'string', needs: "a host:port, e.g. '--host localhost:30500'" },
    user: { type: 'string', needs: "a user name, e.g. '--user ci'" },
    out: { type: 'string', short: 'o', needs: 'a file' },
  });
  if ('error' in args) return usageError(args.error);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { namespace, name = 'model-registry', port = '5000', user = 'modelpilot', out } = args.values;
  if (namespace === undefined) return usageError("'--namespace' is missing; give the stack's namespace, e.g. '--namespace ml'");
  for (const [flag, value] of [['--namespace', namespace], ['--name', name]] as const) {
    if (!DNS_LABEL_RE.test(value) || value.length > 63) return usageError(`'${flag}' value '${value}' is not a Kubernetes name; use lowercase letters, digits and '-'`);
  }
  const portNumber = Number(port);
  if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) return usageError(`'--port' value '${port}' is out of range; give 1..65535, e.g. 5000`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(user)) return usageError(`'--user' value '${user}' is not a user name; use letters, digits, '.', '_' and '-'`);
  const host = args.values.host ?? `${name}.${namespace}.svc:${portNumber}`;
  if (!/^[a-z0-9.-]+(:\d{1,5})?$/i.test(host)) return usageError(`'--host' value '${host}' is not a host[:port]; give it without scheme, e.g. 'localhost:30500'`);

  if (out !== undefined) {
    const refused = checkOutputFile(out, {
      field: '--out', kind: 'Kubernetes manifests', isSameKind: isManifestYaml, fix: "give a new file, e.g. '--out registry-secrets.yaml', or leave --out out for stdout",
    });
    if (refused) return usageError(refused);
  }
  const password = randomBytes(24).toString('base64url');
  const labels = { [K8S_LABELS.name]: 'registry', [K8S_LABELS.instance]: name, [K8S_LABELS.managedBy]: 'modelpilot' };
  const secrets = [
    {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: `${name}-htpasswd`, namespace, labels },
      stringData: { htpasswd: `${user}:${bcrypt.hashSync(password, 10)}\n` },
    },
    {
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/dockerconfigjson', metadata: { name: `${name}-pull`, namespace, labels },
      stringData: { '.dockerconfigjson': JSON.stringify({ auths: { [host]: { username: user, password, auth: Buffer.from(`${user}:${password}`).toString('base64') } } }) },
    },
  ];
  const text = secrets.map((s) => portableYaml(s, { lineWidth: 0 })).join('---\n');
  if (out === undefined) {
    process.stdout.write(text);
  } else {
    fs.writeFileSync(out, text, { mode: 0o600 });
    process.stderr.write(`wrote ${out}: Secrets ${namespace}/${name}-htpasswd and ${namespace}/${name}-pull for user '${user}' at ${host}; apply with 'kubectl apply -f ${out}'\n`);
  }
  return 0;
}

function usageError(msg: string): number {
  process.stderr.write(`modelpilot registry-credentials: ${msg}\n\n${USAGE}`);
  return 2;
}
