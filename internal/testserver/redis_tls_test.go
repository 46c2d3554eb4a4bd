// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/testutil"
)

// TestRedisTLS: the server answers PING over TLS with a client certificate,
// comes back after Restart, and does not serve plain RESP on its port.
func TestRedisTLS(t *testing.T) {
	p := testutil.NewPKI(t)
	files := RedisTLS{CA: p.CA, Cert: p.ServerCert, Key: p.ServerKey, ClientCert: p.ClientCert, ClientKey: p.ClientKey}
	s := StartRedisTLS(t, files)
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return probeRedisTLS(ctx, s, files)
	}
	if err := ping(); err != nil {
		t.Fatalf("TLS PING: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if reply, _ := tcpExchange(ctx, s.Addr, "*1\r\n$4\r\nPING\r\n", true); strings.HasPrefix(reply, "+PONG") {
		t.Fatal("the TLS port answered a plain PING")
	}
	noCert := files
	noCert.ClientCert, noCert.ClientKey = "", ""
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := probeRedisTLS(ctx2, s, noCert); err == nil {
		t.Fatal("PING without a client certificate succeeded")
	}
	if err := s.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if err := ping(); err != nil {
		t.Fatalf("TLS PING after Restart: %v", err)
	}
}
