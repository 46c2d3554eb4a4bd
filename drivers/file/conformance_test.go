// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file_test

import (
	"context"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/drivers/file"
)

// TestConformance runs the whole suite on a fresh directory.
func TestConformance(t *testing.T) {
	conformance.Run(t, harness{conformance.URLHarness{URL: "file://" + t.TempDir(), LivenessTimeout: 1500 * time.Millisecond}})
}

// harness declares what the file watch cannot do: a notification names a
// member file, read afterwards, so quick successive capability updates
// may be reported as the last one.
type harness struct{ conformance.URLHarness }

// FoldsUpdates implements conformance.UpdateFolder.
func (harness) FoldsUpdates() bool { return true }

// BreakHistory implements conformance.HistoryBreaker: c's key watches are
// held back while during runs, then told their inotify queue overflowed.
func (harness) BreakHistory(ctx context.Context, t *testing.T, c *tooz.Coordinator, during func() error) error {
	release, err := file.HoldKeyWatches(c)
	if err != nil {
		return err
	}
	defer release()
	return during()
}
