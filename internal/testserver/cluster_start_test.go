// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// helperEnv makes the test binary a stand-in server (see TestMain): it
// serves HTTP on the port given as its last argument, or, when the port is
// taken, prints the bind error and exits 1, as the real servers do.
const helperEnv = "TOOZ_TESTSERVER_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "listen" {
		os.Exit(serveStandIn(os.Args[len(os.Args)-1]))
	}
	os.Exit(m.Run())
}

func serveStandIn(port string) int {
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

func getOK(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// TestClusterRetriesWhenANodesPortIsTaken: the second of two nodes finds
// its port taken on its first start, while the first node cannot serve
// without it (as a Consul server waits for the others it expects). The
// cluster must be started again on new ports at once, not fail after the
// first node has waited out its whole start timeout (CI, stop 35).
func TestClusterRetriesWhenANodesPortIsTaken(t *testing.T) {
	t.Setenv(helperEnv, "listen")
	const startTimeout = 30 * time.Second
	c := &Cluster{Name: "stand-in"}
	var blocked atomic.Bool
	var launches [2]atomic.Int32
	began := time.Now()
	startCluster(t, c, 2, 1, func(i int) *backend {
		return &backend{
			name:   fmt.Sprintf("node%d", i+1),
			nports: 1,
			command: func(s *Server) (string, []string, error) {
				launches[i].Add(1)
				if i == 1 && blocked.CompareAndSwap(false, true) {
					ln, err := net.Listen("tcp4", s.Addr) // another process's server, in effect
					if err != nil {
						return "", nil, err
					}
					t.Cleanup(func() { ln.Close() })
				}
				return os.Args[0], []string{"-test.run=^$", fmt.Sprint(s.Port)}, nil
			},
			probe: func(ctx context.Context, s *Server) error {
				if err := getOK(ctx, s.Addr); err != nil {
					return err
				}
				if i == 0 {
					return getOK(ctx, c.Nodes[1].Addr) // serves only with its peer
				}
				return nil
			},
		}
	}, []Option{WithStartTimeout(startTimeout)})
	took := time.Since(began)
	if !blocked.Load() {
		t.Fatal("the second node's port was never taken: the test tested nothing")
	}
	if a, b := launches[0].Load(), launches[1].Load(); a != 2 || b != 2 {
		t.Fatalf("launches = %d, %d; want 2, 2 (one conflict, one retry)", a, b)
	}
	if took >= startTimeout {
		t.Fatalf("started after %v: the first node waited out its start timeout (%v) before the retry", took, startTimeout)
	}
	t.Logf("started after one port conflict in %v", took.Round(time.Millisecond))
}
