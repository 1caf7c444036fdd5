import { K8S_LABELS, MANAGED_BY } from './contract/names';
import type { ImageRef } from './image-ref';

export { MANAGED_BY };

/**
 * @internal The recommended `app.kubernetes.io/*` labels every object of a construct carries: its selector labels
 * (`name`, `instance`), then `version`, `component`, `part-of` and `managed-by: modelpilot`.
 */
export function recommendedLabels(selector: Readonly<Record<string, string>>,
  props: { readonly version: string; readonly component: string; readonly partOf: string }): Record<string, string> {
  return {
    ...selector,
    [K8S_LABELS.version]: props.version,
    [K8S_LABELS.component]: props.component,
    [K8S_LABELS.partOf]: props.partOf,
    [K8S_LABELS.managedBy]: MANAGED_BY,
  };
}

/**
 * @internal The `app.kubernetes.io/version` label of an image: its tag made a valid label value (`+` becomes `_`),
 * or the first 12 hex digits of its digest.
 */
export function versionLabel(image: ImageRef): string {
  if (image.tag !== undefined) return image.tag.replace(/\+/g, '_').slice(0, 63).replace(/[^A-Za-z0-9]+$/, '');
  return (image.digest as string).slice('sha256:'.length, 'sha256:'.length + 12);
}
