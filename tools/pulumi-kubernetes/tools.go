//go:build tools

// Package tools pins the pulumi-resource-kubernetes provider built by scripts/pulumi/build.sh; the build copies
// the provider's cmd/pulumi-resource-kubernetes sources from the module cache next to this go.mod.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
