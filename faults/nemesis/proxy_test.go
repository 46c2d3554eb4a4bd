// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package nemesis

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer answers every connection with what it sends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestProxyDelaysBothWaysInOrder(t *testing.T) {
	px, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	c, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	roundTrip := func(msgs ...string) time.Duration {
		t.Helper()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		began := time.Now()
		for _, m := range msgs {
			if _, err := io.WriteString(c, m+"\n"); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range msgs {
			got, err := r.ReadString('\n')
			if err != nil || got != m+"\n" {
				t.Fatalf("read %q, %v; want %q (order lost?)", got, err, m)
			}
		}
		return time.Since(began)
	}
	if d := roundTrip("warm-up"); d > time.Second {
		t.Fatalf("round trip without delay took %v", d)
	}
	const delay = 150 * time.Millisecond
	px.SetDelay(delay)
	var msgs []string
	for i := range 50 {
		msgs = append(msgs, fmt.Sprintf("m%d", i))
	}
	if d := roundTrip(msgs...); d < 2*delay {
		t.Errorf("50 messages came back after %v with a delay of %v each way", d, delay)
	}
	px.SetDelay(0)
	if d := roundTrip("fast again"); d >= 2*delay {
		t.Errorf("round trip after SetDelay(0) took %v", d)
	}
}

func TestProxyCloseEndsConnections(t *testing.T) {
	px, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	px.SetDelay(time.Hour) // Close must not wait for held data
	c, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "held\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- px.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs on data held by the delay")
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the client's connection is still open after Close")
	}
}
