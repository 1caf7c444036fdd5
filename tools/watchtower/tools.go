//go:build tools

// Package tools pins Watchtower (github.com/containrrr/watchtower), the single-host peer the chaos/peer bench runs
// beside the modelpilot agent against the same podman Docker API and registry. Built by scripts/watchtower/build.sh.
package tools

import _ "github.com/containrrr/watchtower"
