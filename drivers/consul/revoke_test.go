package consul

import (
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestOwnerKeyDeletedOutOfBand: an operator deletes a lock's owner key
// (consul kv delete) while the holder's session lives. Another contender
// can take the lock then; the holder must see Lost() within the timeout.
func TestOwnerKeyDeletedOutOfBand(t *testing.T) {
	s := testserver.StartConsul(t)
	raw := rawClient(t, s)
	h := newHarness(s, "")
	ctx := testutil.Context(t, time.Minute)
	a, b := open(t, h, "a"), open(t, h, "b")
	name := testutil.Unique("lock")
	la, lb := a.Lock(name), b.Lock(name)
	testutil.Must(t, la.Acquire(ctx), "a locks")
	key := h.ownerKey(t, tooz.KindLock, name)
	if _, err := raw.KV().Delete(key, nil); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- lb.Acquire(ctx) }()
	select {
	case err := <-got:
		testutil.Must(t, err, "b locks")
	case <-time.After(10 * time.Second):
		t.Fatal("b did not take over")
	}
	testutil.WaitClosed(t, la.Lost(), testTimeout, "a's lock to be reported lost after its owner key was deleted")
}
