package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// ownClient is the client an application would make for tooz.
func ownClient(t testing.TB, s *testserver.Server) *goredis.Client {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1, ContextTimeoutEnabled: true, DisableIdentity: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// clientHarness opens every coordinator of the suite on one shared,
// application-owned client.
type clientHarness struct {
	rdb goredis.UniversalClient
	url string
}

func (h clientHarness) Open(ctx context.Context, t *testing.T, member string, opts ...tooz.Option) (*tooz.Coordinator, error) {
	return Open(ctx, h.rdb, h.url, member, append([]tooz.Option{tooz.WithTimeout(testTimeout)}, opts...)...)
}

func (h clientHarness) Timeout() time.Duration { return testTimeout }

func (h clientHarness) Crash(t *testing.T, c *tooz.Coordinator) error {
	return conformance.Abandon(t, c)
}

// TestConformanceOwnClient runs the suite with every coordinator on one
// client the application made.
func TestConformanceOwnClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the suite runs on URL-opened coordinators only")
	}
	s := testserver.StartRedis(t)
	conformance.Run(t, clientHarness{rdb: ownClient(t, s), url: "redis://?namespace=" + testutil.Unique("own")})
}

// TestOwnClientStaysOpen: closing (or abandoning) a coordinator opened on
// the application's client leaves that client working; a client that
// retries commands, or ignores context deadlines, and connection options
// are refused.
func TestOwnClientStaysOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := testserver.StartRedis(t)
	rdb := ownClient(t, s)
	ns := "redis://?namespace=" + testutil.Unique("own")
	a, err := Open(ctx, rdb, ns, "a", tooz.WithTimeout(testTimeout))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, rdb, ns, "b", tooz.WithTimeout(testTimeout))
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
	if ok, err := b.Lock("x").TryAcquire(ctx); err != nil || !ok {
		t.Fatalf("a's Close did not free the lock: %v %v", ok, err)
	}
	if err := b.Abandon(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("the application's client was closed by the coordinator: %v", err)
	}
	for _, bad := range []string{"redis://?pool_size=3", "redis://?master=m", "redis://?nope=1"} {
		if _, err := Open(ctx, rdb, bad, "c"); !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURL", bad, err)
		}
	}
	retrying := goredis.NewClient(&goredis.Options{Addr: s.Addr, ContextTimeoutEnabled: true})
	defer retrying.Close()
	if _, err := Open(ctx, retrying, "", "c"); !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open with a retrying client = %v, want ErrInvalidURL", err)
	}
	deaf := goredis.NewClient(&goredis.Options{Addr: s.Addr, MaxRetries: -1})
	defer deaf.Close()
	if _, err := Open(ctx, deaf, "", "c"); !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open with a client that ignores context deadlines = %v, want ErrInvalidURL", err)
	}
	if _, err := Open(ctx, nil, "", "c"); !errors.Is(err, tooz.ErrInvalidURL) {
		t.Errorf("Open with a nil client = %v, want ErrInvalidURL", err)
	}
}
