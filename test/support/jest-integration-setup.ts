// Integration tests start real processes (registry, podman, prometheus) on a loaded 2-core machine.
// jest's `testTimeout` is a global option, not a per-project one, so the integration tier sets it here.
jest.setTimeout(180_000);
