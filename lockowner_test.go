// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
)

func TestLockOwnerOfFreeLockSpeaksOfLocks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tooz.Open(ctx, "memory://"+t.Name(), "m1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	_, err = c.Lock("free-lock").Owner(ctx)
	if !errors.Is(err, tooz.ErrNoOwner) {
		t.Fatalf("Owner of a free lock: %v, want ErrNoOwner", err)
	}
	if !errors.Is(err, tooz.ErrNoLeader) {
		t.Errorf("Owner of a free lock: %v no longer satisfies errors.Is(err, ErrNoLeader)", err)
	}
	if strings.Contains(err.Error(), "leader") || !strings.Contains(err.Error(), "lock not held") {
		t.Errorf("message %q should speak of the lock, not of a leader", err)
	}
	if errors.Is(tooz.ErrNoLeader, tooz.ErrNoOwner) {
		t.Error("a group's ErrNoLeader must not satisfy errors.Is(err, ErrNoOwner)")
	}
}

func TestCloseNilCoordinator(t *testing.T) {
	var c *tooz.Coordinator
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close on a nil *Coordinator: %v, want nil", err)
	}
}
