// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package memory_test

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/toozgo/tooz/conformance"
	_ "github.com/toozgo/tooz/drivers/memory"
)

func TestConformance(t *testing.T) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	conformance.Run(t, conformance.URLHarness{
		URL:             "memory://conformance-" + hex.EncodeToString(b[:]),
		LivenessTimeout: 2 * time.Second, // 1s lets a loaded machine's scheduling delays expire a healthy member
	})
}
