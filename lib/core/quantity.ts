/** @internal Kubernetes quantities of sizes (no cdk8s: a cdk8s `Size` fits the structural type). */

/** Renders a size as a Kubernetes quantity, in Gi when whole, else Mi. */
export function sizeQuantity(size: { toMebibytes(): number }): string {
  const mib = size.toMebibytes();
  return mib % 1024 === 0 ? `${mib / 1024}Gi` : `${mib}Mi`;
}
