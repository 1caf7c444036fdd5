import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { checkDnsName, checkProps } from '../core/checks';
import { zFor } from '../core/confidence';
import { DEPLOYMENT_ANNOTATIONS, K8S_LABELS } from '../core/contract/names';
import { Slo } from '../core/slo';
import { checkHttpUrl } from '../core/url';
import { addWarning } from '../validation/warnings';
import type { Delivery, ResolvedAnalysis } from './delivery';

/** The pod label Argo Rollouts puts on every pod of a Rollout; the scrape copies it onto the series. */
export const ROLLOUT_HASH_LABEL = 'rollouts-pod-template-hash';
/** The same label as a Prometheus label name. */
export const ROLLOUT_HASH_SERIES_LABEL = 'rollouts_pod_template_hash';
/** The Prometheus address the analysis uses when neither the analysis nor an updater names one. */
export const DEFAULT_PROMETHEUS_URL = 'http://prometheus-operated.monitoring.svc:9090';

/** What a progressive delivery needs to know about the model. A `ModelDeployment` satisfies it. */
export interface DeliveredModel {
  readonly modelName: string;
  readonly namespace: string;
  readonly deploymentName: string;
  readonly serviceName: string;
  readonly servicePort: number;
  readonly metricsPortName: string;
  /** Name of the port that serves traffic, when it is not the metrics port (a ModelDeployment's `http`). */
  readonly servingPortName?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly selectorLabels: Readonly<Record<string, string>>;
  readonly slo: Slo;
  /** The Deployment object, when it is in this chart: it gets the `modelpilot.dev/rollout` annotation the updater reads. */
  readonly deployment?: { readonly metadata: { addAnnotation(key: string, value: string): void } };
}

/** Properties of {@link ProgressiveDelivery}. */
export interface ProgressiveDeliveryProps {
  /** The model whose Deployment the Rollout takes over (`workloadRef`). */
  readonly model: DeliveredModel;
  /** `Delivery.canary(...)` or `Delivery.blueGreen(...)`. */
  readonly delivery: Delivery;
  /**
   * Replicas of the Rollout; leave unset when an autoscaler owns the count.
   * @default - unset
   */
  readonly replicas?: number;
  /** Old ReplicaSets kept. @default 5 */
  readonly revisionHistoryLimit?: number;
  /**
   * The Prometheus the analysis queries when the delivery's analysis names none.
   * @default 'http://prometheus-operated.monitoring.svc:9090'
   */
  readonly prometheusUrl?: string;
}

/**
 * An Argo Rollouts `Rollout` that runs the model's pods from the model Deployment's template (`workloadRef`, the
 * Deployment is scaled down progressively as the Rollout's pods become available), and the `AnalysisTemplate`
 * generated from the model's `Slo`. The updater keeps setting the image on the Deployment; the Rollout notices the new
 * template and does the canary steps or the blue-green switch, and aborts back to the stable version when the
 * analysis fails.
 */
export class ProgressiveDelivery extends Construct {
  /** The Rollout. */
  public readonly rollout: ApiObject;
  /** The AnalysisTemplate. */
  public readonly analysisTemplate: ApiObject;
  /** The blue-green preview Service. */
  public readonly previewService?: ApiObject;
  /** The Rollout's name (the Deployment's). */
  public readonly rolloutName: string;
  /** The AnalysisTemplate's name, `<model>-slo`. */
  public readonly analysisTemplateName: string;
  /** The blue-green preview Service's name. */
  public readonly previewServiceName?: string;

  constructor(scope: Construct, id: string, props: ProgressiveDeliveryProps) {
    super(scope, id);
    checkProps('ProgressiveDelivery', props, '{ model, delivery: Delivery.canary() }');
    const { model, delivery } = props;
    if (!delivery.progressive || !delivery.analysis) {
      throw new Error(`'delivery' value Delivery.${delivery.kind}() is the Deployment's own strategy; ProgressiveDelivery takes Delivery.canary() or Delivery.blueGreen()`);
    }
    this.rolloutName = model.deploymentName;
    this.analysisTemplateName = `${model.modelName}-slo`;
    const meta = (name: string, labels: Record<string, string> = { ...model.labels }) => ({ name, namespace: model.namespace, labels });
    const prometheusUrl = delivery.analysis.prometheusUrl ?? props.prometheusUrl ?? DEFAULT_PROMETHEUS_URL;
    checkHttpUrl(delivery.analysis.prometheusUrl !== undefined ? 'delivery.analysis.prometheusUrl' : 'prometheusUrl', prometheusUrl, DEFAULT_PROMETHEUS_URL,
      'reach Prometheus without credentials (Argo Rollouts renders the address in the AnalysisTemplate), e.g. through an in-cluster Service');

    this.analysisTemplate = new ApiObject(this, 'AnalysisTemplate', {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AnalysisTemplate',
      metadata: meta(this.analysisTemplateName),
      spec: renderAnalysisSpec(model.slo, model.modelName, delivery.analysis, prometheusUrl, { relative: delivery.canary !== undefined }),
    });
    const relative = delivery.canary !== undefined && model.slo.relative !== undefined;
    if (!delivery.canary && model.slo.relative) {
      addWarning(this, "'slo.relative' is not judged by a blue-green analysis: the preview pods serve no users' traffic to compare with the active ones; "
        + 'use Delivery.canary() for the relative gate on Kubernetes (the absolute ceilings still apply)');
    }
    const analysisRef = {
      templates: [{ templateName: this.analysisTemplateName }],
      args: [
        { name: 'canary-hash', valueFrom: { podTemplateHashValue: 'Latest' } },
        ...(relative ? [{ name: 'stable-hash', valueFrom: { podTemplateHashValue: 'Stable' } }] : []),
      ],
    };

    let strategy: Record<string, unknown>;
    if (delivery.canary) {
      strategy = {
        canary: {
          maxSurge: delivery.canary.maxSurge,
          maxUnavailable: delivery.canary.maxUnavailable,
          steps: delivery.canary.steps.map((s) => (s.analysis === true ? { analysis: analysisRef } : { ...s })),
        },
      };
    } else {
      const bg = delivery.blueGreen!;
      this.previewServiceName = bg.previewService ?? `${model.serviceName}-preview`;
      checkDnsName('delivery.previewService', this.previewServiceName, 63);
      if (this.previewServiceName === model.serviceName) {
        throw new Error(`'delivery.previewService' value '${this.previewServiceName}' is the model's own (active) Service; give the preview another name such as '${model.serviceName}-preview'`);
      }
      // The preview Service carries no selector labels of its own (Argo Rollouts adds the pod-template hash to both
      // Services' selectors), so nothing that selects the model's Services by label picks it up twice.
      this.previewService = new ApiObject(this, 'PreviewService', {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta(this.previewServiceName, { [K8S_LABELS.name]: this.previewServiceName, [K8S_LABELS.partOf]: model.modelName, [K8S_LABELS.component]: 'preview' }),
        spec: {
          type: 'ClusterIP',
          selector: { ...model.selectorLabels },
          ports: [{ name: model.servingPortName ?? model.metricsPortName, port: model.servicePort,
            targetPort: model.servingPortName ?? model.metricsPortName, protocol: 'TCP' }],
        },
      });
      strategy = {
        blueGreen: {
          activeService: model.serviceName,
          previewService: this.previewServiceName,
          autoPromotionEnabled: bg.autoPromotion,
          scaleDownDelaySeconds: bg.scaleDownDelaySeconds,
          ...(bg.analyzeBeforePromotion ? { prePromotionAnalysis: analysisRef } : { postPromotionAnalysis: analysisRef }),
        },
      };
    }

    // The updater follows the Rollout's verdict for this Deployment (agent/targets/kubernetes/index.ts).
    model.deployment?.metadata.addAnnotation(DEPLOYMENT_ANNOTATIONS.rollout, this.rolloutName);
    this.rollout = new ApiObject(this, 'Resource', {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: meta(this.rolloutName),
      spec: {
        replicas: props.replicas,
        revisionHistoryLimit: props.revisionHistoryLimit ?? 5,
        selector: { matchLabels: { ...model.selectorLabels } },
        workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: model.deploymentName, scaleDown: 'progressively' },
        strategy,
      },
    });
  }

  /** The `scaleTargetRef` of an autoscaler of the model: the Rollout. */
  public get scaleTargetRef(): { apiVersion: string; kind: string; name: string } {
    return { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: this.rolloutName };
  }
}

/**
 * The AnalysisTemplate spec of a model's Slo: the updater gate's "served so far" PromQL, scoped to the new pods by
 * the `canary-hash` argument. Three metrics, each `measurements` times every `interval`:
 * - `served-requests` ≥ minSamples — an idle measurement is a failure, tolerated `idleLimit` times, so an idle
 *   version fails (abort, rollback) after `maxIdle` instead of passing with no data or pausing forever;
 * - `error-ratio` ≤ maxErrorRatio and `p99-latency` ≤ maxP99Latency — with no data yet they pass (the samples metric
 *   judges idleness); above the ceiling more than `failureLimit` times, the analysis fails.
 */
export function renderAnalysisSpec(slo: Slo, model: string, a: ResolvedAnalysis, prometheusUrl: string,
  options: { relative?: boolean } = {}): Record<string, unknown> {
  const sel = { model, matchers: [`${ROLLOUT_HASH_SERIES_LABEL}="{{args.canary-hash}}"`] };
  const minSamples = a.minSamples ?? slo.minSamples;
  const metric = (name: string, query: string, successCondition: string, failureLimit: number) => ({
    name,
    interval: `${a.intervalSeconds}s`,
    count: a.measurements,
    failureLimit,
    successCondition,
    provider: { prometheus: { address: prometheusUrl, query } },
  });
  const noDataOr = (cond: string) => `len(result) == 0 || isNaN(result[0]) || ${cond}`;
  // The relative gate (a canary only: the stable pods serve the same traffic split over the same window)
  const relative = options.relative && slo.relative ? slo.relative : undefined;
  const stable = { model, matchers: [`${ROLLOUT_HASH_SERIES_LABEL}="{{args.stable-hash}}"`] };
  const canary = { model, matchers: sel.matchers };
  return {
    args: [{ name: 'canary-hash' }, ...(relative ? [{ name: 'stable-hash' }] : [])],
    metrics: [
      metric('served-requests', slo.metricServedRequests(sel), `len(result) > 0 && result[0] >= ${minSamples}`, a.idleLimit),
      metric('error-ratio', slo.metricServedErrorRatio(sel), noDataOr(`result[0] <= ${slo.maxErrorRatio}`), a.failureLimit),
      metric('p99-latency', slo.metricServedP99(sel), noDataOr(`result[0] <= ${slo.maxP99Seconds}`), a.failureLimit),
      // LLM objectives the Slo sets, each read the same way (kebab-case of the Slo field)
      ...slo.llmObjectives.map((o) => metric(kebab(o.field), slo.metricServedLlm(o.field, sel),
        noDataOr(`result[0] ${o.direction === 'max' ? '<=' : '>='} ${o.bound}`), a.failureLimit)),
      ...(relative?.maxErrorRatioFactor !== undefined
        ? [metric('relative-error-ratio', slo.metricRelativeErrorBound(canary, stable, zFor(RELATIVE_CONFIDENCE)), noDataOr('result[0] <= 0'), a.failureLimit)] : []),
      ...(relative?.maxP99Factor !== undefined
        ? [metric('relative-p99-latency', slo.metricRelativeP99(canary, stable), noDataOr(`result[0] <= ${relative.maxP99Factor}`), a.failureLimit)] : []),
    ],
  };
}

/** Confidence of the relative error bound in the analysis (the agent's `health.confidence` default). */
const RELATIVE_CONFIDENCE = 0.95;

/** `maxP99TimeToFirstToken` → `max-p99-time-to-first-token` (an analysis metric's name). */
function kebab(field: string): string {
  return field.replace(/([a-z])([A-Z0-9])/g, '$1-$2').replace(/([0-9])([A-Z])/g, '$1-$2').toLowerCase();
}
