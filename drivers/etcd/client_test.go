package etcd

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// clientHarness opens every coordinator of the suite on one shared,
// application-owned client.
type clientHarness struct {
	cli *clientv3.Client
	url string
}

func (h clientHarness) Open(ctx context.Context, t *testing.T, member string, opts ...tooz.Option) (*tooz.Coordinator, error) {
	return Open(ctx, h.cli, h.url, member, append([]tooz.Option{tooz.WithTimeout(testTimeout)}, opts...)...)
}

func (h clientHarness) Timeout() time.Duration { return testTimeout }

func (h clientHarness) Crash(t *testing.T, c *tooz.Coordinator) error {
	return conformance.Abandon(t, c)
}

// TestConformanceOwnClient runs the suite with every coordinator on one
// client the application made: the same semantics as with a URL, each
// coordinator with its own lease.
func TestConformanceOwnClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the suite runs on URL-opened coordinators only")
	}
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	conformance.Run(t, clientHarness{cli: rawClient(t, s), url: "etcd://?namespace=" + testutil.Unique("own")})
}

// TestOwnClientStaysOpen: closing (or abandoning) a coordinator opened on
// the application's client leaves that client working, and options meant
// for a connection tooz would make are refused.
func TestOwnClientStaysOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	cli := rawClient(t, s)
	ns := "etcd://?namespace=" + testutil.Unique("own")
	a, err := Open(ctx, cli, ns, "a", tooz.WithTimeout(testTimeout))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, cli, ns, "b", tooz.WithTimeout(testTimeout))
	if err != nil {
		t.Fatal(err)
	}
	la := a.Lock("x")
	if err := la.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Lock("x").TryAcquire(ctx); err != nil || ok {
		t.Fatalf("b took a lock a holds on the same client: %v %v", ok, err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Lock("x").TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("a's Close did not free the lock: %v %v", ok, err)
	}
	if err := b.Abandon(); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, testutil.Unique("still-open"), "1"); err != nil {
		t.Fatalf("the application's client was closed by the coordinator: %v", err)
	}
	for _, bad := range []string{"etcd://?dial_timeout=1s", "etcd://?ca=/x", "etcd://?nope=1"} {
		if _, err := Open(ctx, cli, bad, "c"); !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", bad, err)
		}
	}
	if _, err := Open(ctx, nil, "", "c"); !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open with a nil client = %v, want ErrInvalidURL", err)
	}
}
