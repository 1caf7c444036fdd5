/**
 * The Kubernetes target in the target table (agent/targets/index.ts): Deployments in one namespace, by name or
 * label selector. `@kubernetes/client-node` is loaded only when this target is configured (a Docker-only agent does
 * not pay for it).
 */
import { assertPeer } from '../../../lib/core/peer';
import type { TargetPlugin } from '../index';

export const kubernetesTargetPlugin: TargetPlugin<'kubernetes'> = {
  key: 'kubernetes',
  updates: 'Deployments in one namespace (and Argo Rollouts that deliver them), by name or by label selector',
  build(k, _config, { logger, clock }) {
    const { KubeConfig } = require('@kubernetes/client-node') as typeof import('@kubernetes/client-node');
    assertPeer('@kubernetes/client-node', "the Kubernetes target ('targets.kubernetes')");
    const { KubernetesTarget } = require('./index') as typeof import('./index');
    const kc = new KubeConfig();
    if (k.inCluster) kc.loadFromCluster();
    else kc.loadFromFile(k.kubeconfig as string);
    return new KubernetesTarget({
      kubeConfig: kc, namespace: k.namespace, labelSelector: k.labelSelector, clock,
      deployments: k.deployments?.map((name) => ({ name, container: k.container })),
      logger,
    });
  },
  async connect(_k, _config, { registryHosts, note }) {
    note(`the kubelets' container runtime pulls on Kubernetes; --connect cannot ask it whether it trusts ${registryHosts.join(', ') || 'the registries'}`);
  },
};
