//go:build tools

// Package tools pins actionlint, which checks the workflows `modelpilot pipeline github` writes (scripts/delivery/build.sh).
package tools

import _ "github.com/rhysd/actionlint"
