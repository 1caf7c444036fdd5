/** @internal The value of `app.kubernetes.io/managed-by` on everything modelpilot makes. */
export const MANAGED_BY = 'modelpilot';

/**
 * @internal The recommended `app.kubernetes.io/*` labels every object of a construct carries: its selector labels
 * (`name`, `instance`), then `version`, `component`, `part-of` and `managed-by: modelpilot`.
 */
export function recommendedLabels(selector: Readonly<Record<string, string>>,
  props: { readonly version: string; readonly component: string; readonly partOf: string }): Record<string, string> {
  return {
    ...selector,
    'app.kubernetes.io/version': props.version,
    'app.kubernetes.io/component': props.component,
    'app.kubernetes.io/part-of': props.partOf,
    'app.kubernetes.io/managed-by': MANAGED_BY,
  };
}
