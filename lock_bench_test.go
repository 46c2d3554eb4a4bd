package tooz_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/toozgo/tooz"
)

// BenchmarkCoreLockCycle measures what the Coordinator adds to a lock cycle
// over its driver, on the memory driver (no I/O): validation, the holding
// and its goroutine, the cleanup context.
func BenchmarkCoreLockCycle(b *testing.B) {
	ctx := context.Background()
	c, err := tooz.Open(ctx, fmt.Sprintf("memory://bench-%d", time.Now().UnixNano()), "m")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	b.Run("tooz", func(b *testing.B) {
		l := c.Lock("x")
		for b.Loop() {
			if err := l.Acquire(ctx); err != nil {
				b.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("driver", func(b *testing.B) {
		d := c.Driver()
		for b.Loop() {
			o, err := d.Acquire(ctx, tooz.Resource{Kind: tooz.KindLock, Name: "y"}, true)
			if err != nil {
				b.Fatal(err)
			}
			if err := o.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
