// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// countingProxy forwards TCP connections to a server and counts, from the
// client's side, the requests sent and the turns: a turn starts whenever
// the client sends after the server has answered, so sequential round
// trips count one each and pipelined or concurrent requests share one.
// Requests are counted from the protocol's framing: HTTP/2 HEADERS frames
// (etcd's gRPC), ZooKeeper packets other than pings, HTTP/1.1 request
// lines (Consul); for Redis, whose pipelines are one write, turns only.
type countingProxy struct {
	addr            string
	proto           string
	requests, turns atomic.Int64
}

func startProxy(t testing.TB, target, proto string) *countingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{addr: ln.Addr().String(), proto: proto}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			var answered atomic.Bool
			answered.Store(true)
			wg.Add(2)
			go func() {
				defer wg.Done()
				defer s.Close()
				p.clientToServer(c, s, &answered)
			}()
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						answered.Store(true)
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

func (p *countingProxy) reset() { p.requests.Store(0); p.turns.Store(0) }

func (p *countingProxy) clientToServer(c io.Reader, s io.Writer, answered *atomic.Bool) {
	buf := make([]byte, 64<<10)
	var pending []byte
	first := true
	var tail []byte
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if answered.Swap(false) {
				p.turns.Add(1)
			}
			chunk := buf[:n]
			switch p.proto {
			case "h2":
				pending = append(pending, chunk...)
				if first && len(pending) >= 24 {
					pending, first = pending[24:], false
				}
				for !first && len(pending) >= 9 {
					l := int(pending[0])<<16 | int(pending[1])<<8 | int(pending[2])
					if len(pending) < 9+l {
						break
					}
					if pending[3] == 0x1 { // HEADERS: a new request
						p.requests.Add(1)
					}
					pending = pending[9+l:]
				}
			case "zk":
				pending = append(pending, chunk...)
				for len(pending) >= 4 {
					l := int(binary.BigEndian.Uint32(pending))
					if len(pending) < 4+l {
						break
					}
					if !first && l >= 8 && int32(binary.BigEndian.Uint32(pending[4:])) != -2 { // -2: ping
						p.requests.Add(1)
					}
					first = false // the first packet is the connect request
					pending = pending[4+l:]
				}
			case "http":
				all := append(tail, chunk...)
				p.requests.Add(int64(bytes.Count(all, []byte(" HTTP/1.1\r\n"))))
				tail = append([]byte(nil), all[max(0, len(all)-10):]...)
			}
			if _, werr := s.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
