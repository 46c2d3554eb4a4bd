// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

// TestCampaignRacesStandDown runs Campaign and StandDown on one group of
// one coordinator at the same time, many times. StandDown must only ever
// see leaderships that are held (it once found one whose holding was not
// set yet and panicked), and each call must end with a result that makes
// sense: Campaign leads or fails, StandDown stands down or says
// ErrNotLeader.
func TestCampaignRacesStandDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := fmt.Sprintf("memory://campaign-standdown-%d", time.Now().UnixNano())
	c, err := tooz.Open(ctx, url, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	const rounds = 500
	for i := range rounds {
		group := fmt.Sprintf("g%d", i)
		var wg sync.WaitGroup
		var lead *tooz.Leadership
		var cerr, serr error
		campaigned := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer close(campaigned)
			lead, cerr = c.Campaign(ctx, group)
		}()
		go func() {
			defer wg.Done()
			// Stand down over and over while Campaign runs, so that
			// one call lands inside Campaign's window.
			for {
				serr = c.StandDown(ctx, group)
				if serr == nil || !errors.Is(serr, tooz.ErrNotLeader) {
					return
				}
				select {
				case <-campaigned:
					return
				default:
				}
			}
		}()
		wg.Wait()
		if cerr != nil {
			t.Fatalf("round %d: Campaign: %v", i, cerr)
		}
		if serr != nil && !errors.Is(serr, tooz.ErrNotLeader) {
			t.Fatalf("round %d: StandDown: %v", i, serr)
		}
		if serr == nil {
			// It stood down the leadership Campaign won.
			select {
			case <-lead.Lost():
			case <-ctx.Done():
				t.Fatalf("round %d: StandDown succeeded but the leadership is not lost", i)
			}
			continue
		}
		if err := lead.Resign(ctx); err != nil {
			t.Fatalf("round %d: Resign: %v", i, err)
		}
	}
}

// TestElectedHookRacesStandDown: a WatchElectedAsLeader candidacy
// campaigns in the background while the application stands down in a
// loop; nothing panics and every StandDown either stands down or says
// ErrNotLeader.
func TestElectedHookRacesStandDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := fmt.Sprintf("memory://hook-standdown-%d", time.Now().UnixNano())
	// Alone, the candidacy campaigns again one liveness timeout after each
	// stand-down (nobody else took over): keep it short.
	c, err := tooz.Open(ctx, url, "a", tooz.WithTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	elected := make(chan struct{}, 1)
	w, err := c.WatchElectedAsLeader(ctx, "g", func(tooz.ElectedAsLeader) {
		select {
		case elected <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	stoodDown := 0
	for stoodDown < 5 {
		err := c.StandDown(ctx, "g")
		switch {
		case err == nil:
			stoodDown++
			select {
			case <-elected:
			case <-ctx.Done():
				t.Fatal("the candidacy did not lead again after a stand-down")
			}
		case errors.Is(err, tooz.ErrNotLeader):
			select {
			case <-elected:
			case <-ctx.Done():
				t.Fatal("never elected")
			}
		default:
			t.Fatal(err)
		}
	}
}

// TestConcurrentUseAgainstClose calls every public method of a
// Coordinator and its handles from many goroutines while another goroutine
// closes it. Nothing may panic or hang, every call made after Close has
// returned fails with ErrClosed, and nothing is left held: a second
// coordinator can take every lock and leadership at once afterwards.
func TestConcurrentUseAgainstClose(t *testing.T) {
	for round := range 20 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			url := fmt.Sprintf("memory://close-race-%d-%d", round, time.Now().UnixNano())
			c, err := tooz.Open(ctx, url, "a")
			if err != nil {
				t.Fatal(err)
			}
			other, err := tooz.Open(ctx, url, "b")
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close(context.Background())
			if err := other.CreateGroup(ctx, "g"); err != nil {
				t.Fatal(err)
			}
			calls := []func(context.Context) error{
				func(ctx context.Context) error { return c.CreateGroup(ctx, "h") },
				func(ctx context.Context) error { return c.JoinGroupCreate(ctx, "g", []byte("x")) },
				func(ctx context.Context) error { return c.UpdateCapabilities(ctx, "g", []byte("y")) },
				func(ctx context.Context) error { return c.LeaveGroup(ctx, "g") },
				func(ctx context.Context) error { _, err := c.Groups(ctx); return err },
				func(ctx context.Context) error { _, err := c.Members(ctx, "g"); return err },
				func(ctx context.Context) error { _, err := c.MemberInfo(ctx, "g", "b"); return err },
				func(ctx context.Context) error { _, err := c.Leader(ctx, "e"); return err },
				func(ctx context.Context) error { return c.StandDown(ctx, "e") },
				func(ctx context.Context) error { return c.StandDown(ctx, "e", tooz.HoldOff(time.Millisecond)) },
				func(ctx context.Context) error {
					l, err := c.TryCampaign(ctx, "e3")
					if err != nil {
						return err
					}
					return l.Resign(ctx)
				},
				func(ctx context.Context) error {
					return c.Lead(ctx, "e4", func(context.Context) error { return nil })
				},
				func(ctx context.Context) error { _, err := c.Heartbeat(ctx); return err },
				func(ctx context.Context) error {
					l, err := c.Campaign(ctx, "e")
					if err != nil {
						return err
					}
					return l.Resign(ctx)
				},
				func(ctx context.Context) error {
					l := c.Lock("l")
					if _, err := l.TryAcquire(ctx); err != nil {
						return err
					}
					_, _ = l.Owner(ctx)
					return l.Release(ctx)
				},
				func(ctx context.Context) error {
					w, err := c.WatchJoinGroup(ctx, "g", func(tooz.MemberJoined) {})
					if err != nil {
						return err
					}
					w.Stop()
					return nil
				},
				func(ctx context.Context) error {
					w, err := c.WatchElectedAsLeader(ctx, "e2", func(tooz.ElectedAsLeader) {})
					if err != nil {
						return err
					}
					w.Stop()
					return nil
				},
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for _, call := range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for range 20 {
						cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
						_ = call(cctx) // any error is fine while Close runs
						ccancel()
					}
				}()
			}
			close(start)
			if err := c.Close(ctx); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			if _, err := c.Groups(ctx); !errors.Is(err, tooz.ErrClosed) {
				t.Fatalf("Groups after Close: %v, want ErrClosed", err)
			}
			if err := c.Lock("l").Acquire(ctx); !errors.Is(err, tooz.ErrClosed) {
				t.Fatalf("Acquire after Close: %v, want ErrClosed", err)
			}
			// Close gave everything up at once.
			tctx, tcancel := context.WithTimeout(ctx, time.Second)
			defer tcancel()
			if ok, err := other.Lock("l").TryAcquire(tctx); err != nil || !ok {
				t.Fatalf("lock still held after Close: %v %v", ok, err)
			}
			l, err := other.Campaign(tctx, "e")
			if err != nil {
				t.Fatalf("leadership still held after Close: %v", err)
			}
			_ = l.Resign(ctx)
			ms, err := other.Members(ctx, "g")
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 0 {
				t.Fatalf("members after Close: %v", ms)
			}
		})
	}
}
