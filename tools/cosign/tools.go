//go:build tools

// Package tools pins cosign, which signs the test images of the signature-verification tests (scripts/signing/build.sh).
package tools

import _ "github.com/sigstore/cosign/v2/pkg/cosign"
