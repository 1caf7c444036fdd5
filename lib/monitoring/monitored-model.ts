import { K8S_LABELS, MANAGED_BY, VERSION_LABEL } from '../core/contract/names';
import { Slo } from '../core/slo';

/**
 * What monitoring and alerting need to know about a served model. A `ModelDeployment` satisfies it as it is;
 * give a plain object to monitor a model deployed some other way.
 */
export interface MonitoredModel {
  /** The model's name: the `model` label of its metrics. */
  readonly modelName: string;
  /** Namespace the model runs in. */
  readonly namespace: string;
  /** The version that should run (the `version` label); used only in object labels, never in alert expressions. */
  readonly version?: string;
  /** Labels of the model's objects; the monitoring objects carry them too (the `version` label is left out). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Labels that select the model's Service (ServiceMonitor) or pods (PodMonitor). */
  readonly selectorLabels: Readonly<Record<string, string>>;
  /** Name of the Deployment; kube-state-metrics alerts match it and its pods (`<name>-<hash>-<hash>`). */
  readonly deploymentName: string;
  /** Name of the model container in the pod. */
  readonly containerName: string;
  /** Name of the port that serves `/metrics`, on the Service (ServiceMonitor) or container (PodMonitor). */
  readonly metricsPortName: string;
  /** HTTP path of the metrics. */
  readonly metricsPath: string;
  /** The model's SLO. */
  readonly slo?: Slo;
}

/** Labels on the monitoring objects: the model's labels without the version (it changes at every update). */
export function objectLabels(model: MonitoredModel, component: string): Record<string, string> {
  const labels: Record<string, string> = { ...(model.labels ?? model.selectorLabels) };
  delete labels[VERSION_LABEL];
  labels[K8S_LABELS.component] = component;
  labels[K8S_LABELS.managedBy] = MANAGED_BY;
  return labels;
}
