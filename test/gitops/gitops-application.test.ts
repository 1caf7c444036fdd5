import { Testing } from 'cdk8s';
import { Duration, GitOpsApplication, GitOpsApplicationProps, ModelRegistry, SelfHealingModelStack, SYNC_WAVE_ANNOTATION, validateManifests } from '../../lib';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests are untyped JSON

const REPO = 'https://github.com/acme/ml-platform.git';
const stackProps = {
  namespace: 'ml', registry: ModelRegistry.inCluster({ nodePort: 30500 }), monitoring: {},
  model: { name: 'recsys', image: 'localhost:30500/models/recsys:1.4.0' },
  gitops: { repoURL: REPO, path: 'dist/prod' },
};

function synth(props: Obj): { stack: Obj[]; gitops: Obj[] } {
  const app = Testing.app();
  new SelfHealingModelStack(app, 'recsys', props as never);
  const [stack, gitops] = app.charts.map((c) => c.toJson() as Obj[]);
  return { stack, gitops };
}

describe('SelfHealingModelStack gitops section', () => {
  test('with the updater: an Application in its own chart that leaves the model image, MODEL_VERSION and version label to the updater; snapshot', () => {
    // GIVEN a stack with an updater WHEN synthesized
    const { stack, gitops } = synth({ ...stackProps, updater: {} });
    // THEN the Application is in the sibling chart, in Argo CD's namespace, syncing the stack's namespace
    expect(gitops.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['Application argocd/recsys']);
    const app = gitops[0];
    expect(app.metadata.finalizers).toEqual(['resources-finalizer.argocd.argoproj.io/foreground']); // deleting it deletes what it synced
    expect(app.spec.source).toEqual({ repoURL: REPO, path: 'dist/prod', targetRevision: 'HEAD' });
    expect(app.spec.destination).toEqual({ server: 'https://kubernetes.default.svc', namespace: 'ml' });
    expect(app.spec.syncPolicy).toEqual({
      automated: { prune: true, selfHeal: true },
      syncOptions: ['CreateNamespace=true', 'ServerSideApply=true', 'RespectIgnoreDifferences=true'],
      retry: { limit: 5, backoff: { duration: '5s', factor: 2, maxDuration: '3m' } },
    });
    expect(app.spec.ignoreDifferences).toEqual([{
      group: 'apps', kind: 'Deployment', name: 'recsys', namespace: 'ml', managedFieldsManagers: ['modelpilot'],
      jqPathExpressions: [
        '.spec.template.spec.containers[] | select(.name == "model") | .image',
        '.spec.template.spec.containers[] | select(.name == "model") | .env[]? | select(.name == "MODEL_VERSION") | .value',
        '.spec.template.metadata.labels["app.kubernetes.io/version"]',
      ],
    }]);
    // AND the stack's objects carry sync waves: registry first, then monitoring, the model, the updater last
    const wave = (kind: string, name: string) => stack.find((o) => o.kind === kind && o.metadata.name === name)!
      .metadata.annotations?.[SYNC_WAVE_ANNOTATION];
    const waves = [
      wave('Deployment', 'model-registry'), wave('PrometheusRule', 'recsys-alerts'), wave('Deployment', 'recsys'), wave('Deployment', 'modelpilot-updater'),
    ];
    expect(waves).toEqual(['-2', '-1', '0', '1']);
    expect(validateManifests([...stack, ...gitops]).issues).toEqual([]);
    expect(gitops).toMatchSnapshot();
  });

  test('without the updater nothing is ignored: Git owns the image', () => {
    const { gitops } = synth(stackProps);
    expect(gitops[0].spec.ignoreDifferences).toBeUndefined();
    expect(gitops[0].spec.syncPolicy.syncOptions).toEqual(['CreateNamespace=true', 'ServerSideApply=true']);
  });

  test('createProject: an AppProject scoped to the repository and the namespace holds the Application', () => {
    const { gitops } = synth({ ...stackProps, gitops: { ...stackProps.gitops, createProject: true, destination: { name: 'prod-eu' } } });
    const [project, app] = gitops;
    expect(project.kind).toBe('AppProject');
    expect(project.spec.sourceRepos).toEqual([REPO]);
    expect(project.spec.destinations).toEqual([{ name: 'prod-eu', namespace: 'ml' }]);
    expect(app.spec.project).toBe(project.metadata.name);
    expect(validateManifests(gitops).issues).toEqual([]);
  });

  test('without a gitops section: one chart, no sync waves', () => {
    const app = Testing.app();
    new SelfHealingModelStack(app, 'recsys', { ...stackProps, gitops: undefined });
    expect(app.charts.map((c) => c.node.id)).toEqual(['recsys']);
    expect((app.charts[0].toJson() as Obj[]).filter((o) => o.metadata.annotations?.[SYNC_WAVE_ANNOTATION] !== undefined)).toEqual([]);
  });
});

describe('GitOpsApplication bad input', () => {
  const g = (p: Partial<GitOpsApplicationProps>) => () => new GitOpsApplication(Testing.chart(), 'G', { repoURL: REPO, path: 'dist', namespace: 'ml', ...p });
  test.each([
    ['the repoURL is not a Git URL', g({ repoURL: 'github.com/acme/repo' }),
      "'gitops.repoURL' value 'github.com/acme/repo' is not a Git URL; give e.g. 'https://github.com/acme/ml-platform.git' or 'git@github.com:acme/ml-platform.git'"],
    ['the repoURL carries credentials', g({ repoURL: 'https://bot:token@github.com/acme/repo.git' }),
      "'gitops.repoURL' carries credentials; give the URL without them and register the repository's credentials in Argo CD (a repository Secret)"],
    ['the path leaves the repository', g({ path: '../other' }),
      "'gitops.path' value '../other' is not a folder inside the repository; give a relative path such as 'dist/prod'"],
    ['the retry factor is fractional', g({ retry: { factor: 1.5 } }),
      "'gitops.retry.factor' value 1.5 must be a whole number of at least 1 (Argo CD takes an integer); give for example 2"],
    ['the retry maxDuration is below its duration', g({ retry: { duration: Duration.minutes(5), maxDuration: Duration.minutes(1) } }),
      "'gitops.retry.maxDuration' value '1m' is shorter than 'gitops.retry.duration' '5m'; make it at least as long"],
    ['the destination names both a server and a cluster name', g({ destination: { server: 'https://k8s.example.com', name: 'prod' } }),
      "'gitops.destination' gives both server 'https://k8s.example.com' and name 'prod'; give one of them"],
    ['a project is named and createProject is set', g({ project: 'ml', createProject: true }),
      "'gitops.project' ('ml') and 'gitops.createProject' are both given; keep one of them"],
    ['the repoURL holds a space', g({ repoURL: 'https://github.com/acme/ml platform.git' }),
      "'gitops.repoURL' value 'https://github.com/acme/ml platform.git' holds white space, which no Git server's URL has; give e.g. 'https://github.com/acme/ml-platform.git'"],
    ['the destination server is not a URL', g({ destination: { server: 'kubernetes.default.svc' } }),
      "'gitops.destination.server' value 'kubernetes.default.svc' is not an http(s) URL; use an http:// or https:// URL such as 'https://kubernetes.default.svc'"],
    ['the destination server carries credentials', g({ destination: { server: 'https://admin:pw@k8s.example.com' } }),
      "'gitops.destination.server' value 'https://k8s.example.com' carries a user and password, which would be rendered in plain text; "
      + "register the cluster's credentials in Argo CD (a cluster Secret) and give its API server URL without them"],
    ['a sync option is misspelled', g({ syncOptions: ['PruneLst=true'] }),
      "'gitops.syncOptions[0]' value \"PruneLst=true\" names no sync option Argo CD knows (it would be ignored); did you mean 'PruneLast=true'?"],
    ['a sync option has no value', g({ syncOptions: ['PruneLast'] }),
      "'gitops.syncOptions[0]' value \"PruneLast\" is not a sync option; write it as Key=value, e.g. 'PruneLast=true'"],
    ['a sync option has a value Argo CD ignores', g({ syncOptions: ['PrunePropagationPolicy=later'] }),
      "'gitops.syncOptions[0]' value \"PrunePropagationPolicy=later\" gives PrunePropagationPolicy a value Argo CD does not act on; "
      + "give 'PrunePropagationPolicy=foreground' or 'PrunePropagationPolicy=background' or 'PrunePropagationPolicy=orphan'"],
    ['two sync options contradict each other', g({ syncOptions: ['PruneLast=true', 'PruneLast=false'] }),
      "'gitops.syncOptions[1]' value \"PruneLast=false\" contradicts 'PruneLast=true', given earlier; remove one of them"],
    ["a sync option contradicts modelpilot's own", g({ syncOptions: ['ServerSideApply=false'] }),
      "'gitops.syncOptions[0]' value \"ServerSideApply=false\" contradicts 'ServerSideApply=true', which modelpilot sets for this stack "
      + '(the namespace, server-side apply and the updater-owned image depend on it); remove one of them'],
  ])('throws if %s', (_name, fn, message) => {
    expect(fn).toThrow(new Error(message));
  });

  test('known sync options are added once, after modelpilot\'s own', () => {
    const spec = g({ syncOptions: ['PruneLast=true', 'ServerSideApply=true', 'PrunePropagationPolicy=foreground'] })().application.toJson().spec;
    expect(spec.syncPolicy.syncOptions).toEqual(['CreateNamespace=true', 'ServerSideApply=true', 'PruneLast=true', 'PrunePropagationPolicy=foreground']);
  });

  test('an scp-style Git URL is accepted', () => {
    expect(g({ repoURL: 'git@github.com:acme/ml-platform.git' })().application.toJson().spec.source.repoURL).toBe('git@github.com:acme/ml-platform.git');
  });
});
