//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file_test

import (
	"testing"
	"time"

	"github.com/toozgo/tooz/conformance"
	_ "github.com/toozgo/tooz/drivers/file"
)

// TestConformance runs the whole suite on a fresh directory.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.URLHarness{URL: "file://" + t.TempDir(), LivenessTimeout: 1500 * time.Millisecond})
}
