package consul

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// clientHarness opens every coordinator of the suite on one shared,
// application-owned client.
type clientHarness struct {
	harness // expiry bound and state-watch declarations of the URL harness
	client  *api.Client
	url     string
}

func (h clientHarness) Open(ctx context.Context, t *testing.T, member string, opts ...tooz.Option) (*tooz.Coordinator, error) {
	return Open(ctx, h.client, h.url, member, append([]tooz.Option{tooz.WithTimeout(testTimeout)}, opts...)...)
}

// TestConformanceOwnClient runs the suite with every coordinator on one
// client the application made.
func TestConformanceOwnClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the suite runs on URL-opened coordinators only")
	}
	s := testserver.StartConsul(t)
	conformance.Run(t, clientHarness{
		harness: newHarness(s, ""),
		client:  rawClient(t, s),
		url:     "consul://?namespace=" + testutil.Unique("own"),
	})
}

// TestOwnClientStaysOpen: closing (or abandoning) a coordinator opened on
// the application's client leaves that client working, and the options the
// client already settles are refused.
func TestOwnClientStaysOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testserver.StartConsul(t)
	client := rawClient(t, s)
	ns := "consul://?namespace=" + testutil.Unique("own")
	a, err := Open(ctx, client, ns, "a", tooz.WithTimeout(testTimeout))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, client, ns, "b", tooz.WithTimeout(testTimeout))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Lock("x").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Lock("x").TryAcquire(ctx); err != nil || ok {
		t.Fatalf("b took a lock a holds on the same client: %v %v", ok, err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
	defer tcancel()
	if err := b.Lock("x").Acquire(tctx); err != nil {
		t.Fatalf("a's Close did not free the lock: %v", err)
	}
	if err := b.Abandon(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Status().Leader(); err != nil {
		t.Fatalf("the application's client stopped working after the coordinator closed: %v", err)
	}
	for _, bad := range []string{"consul://?token=secret", "consul://?datacenter=dc2", "consul://?nope=1"} {
		_, err := Open(ctx, client, bad, "c")
		if !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", bad, err)
		}
	}
	if _, err := Open(ctx, nil, "", "c"); !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open with a nil client = %v, want ErrInvalidURL", err)
	}
}
