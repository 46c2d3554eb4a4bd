package consul

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves goroutines behind: session
// monitors, watches and waiters must all end with Close, Abandon or a stop
// function.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
