//go:build tools

// Package tools pins the Argo Rollouts controller for the cluster tier's real canary (scripts/rollouts/build.sh builds
// github.com/argoproj/argo-rollouts/cmd/rollouts-controller from this module; the replace block is upstream's).
package tools

import _ "github.com/argoproj/argo-rollouts/controller"
