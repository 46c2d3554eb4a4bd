package consul

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
)

// testTimeout is the liveness timeout (session TTL) of the tests'
// coordinators; the test agent accepts TTLs from 1s.
const testTimeout = 2 * time.Second

// unique returns a name no other test uses.
func unique(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// harness opens coordinators on one Consul agent and namespace.
//
// It implements conformance.ExpiryBounder: Consul invalidates a session up
// to twice its TTL after the last renewal. It does not implement
// conformance.SessionExpirer: destroying a session behind a live
// coordinator's back is not an expiry (the servers free its locks at once,
// before the coordinator can know), so the suite opens such coordinators
// WithoutHeart and lets their session really expire. Out-of-band
// destruction has a test of its own (TestSessionDestroyedOutOfBand).
type harness struct {
	conformance.URLHarness
}

// ExpiryBound implements conformance.ExpiryBounder.
func (h harness) ExpiryBound() time.Duration { return 2 * h.LivenessTimeout }

func newHarness(s *testserver.Server, options string) harness {
	return harness{conformance.URLHarness{
		URL:             fmt.Sprintf("consul://%s?namespace=%s%s", s.Addr, unique("conformance"), options),
		LivenessTimeout: testTimeout,
	}}
}

// rawClient connects a plain consul/api client to s.
func rawClient(t testing.TB, s *testserver.Server) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cli, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("raw consul client: %v", err)
	}
	return cli
}

// sessionOf returns the ID of c's current Consul session.
func sessionOf(t testing.TB, c *tooz.Coordinator) string {
	t.Helper()
	d, ok := c.Driver().(*conn)
	if !ok {
		t.Fatalf("driver is %T, not the consul driver", c.Driver())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sess.id
}

func TestConformance(t *testing.T) {
	s := testserver.StartConsul(t)
	conformance.Run(t, newHarness(s, ""))
}

// ctxFor returns a context that ends with the test or after d.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
