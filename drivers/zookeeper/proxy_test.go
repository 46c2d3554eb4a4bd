// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// ZooKeeper opcodes, as the protocol numbers them (opCreate is the
// driver's, opCloseSession persistent.go's).
const (
	opDelete = 2
	opExists = 3
)

var closeSessionOp int32 = opCloseSession

// proxy is a TCP proxy in front of a real ZooKeeper server that can cut
// connections, refuse new ones, and lose the reply to one request after
// the server has executed it (the case protected creates are for).
type proxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu      sync.Mutex
	pairs   map[*pair]struct{}
	blocked bool
	muted   chan struct{} // while set, new connections are swallowed (see mute)
	silent  []net.Conn    // connections swallowed, open until the end of the test
	armed   int32         // opcode whose reply to lose; 0 when disarmed
	gate    chan struct{} // while set, replies wait for it to close
	lostCh  chan struct{}
	sent    map[int32]int // requests passed to the server, by opcode
	wg      sync.WaitGroup
}

type pair struct {
	client, server net.Conn
	once           sync.Once
	mu             sync.Mutex
	loseXid        int32 // reply to lose, then cut
	losing         bool
	lostCh         chan struct{}
}

func (p *pair) close() {
	p.once.Do(func() {
		p.client.Close()
		p.server.Close()
	})
}

func startProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &proxy{t: t, ln: ln, target: target, pairs: map[*pair]struct{}{}, sent: map[int32]int{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		p.unstall()
		ln.Close()
		p.mu.Lock()
		for pr := range p.pairs {
			pr.close()
		}
		for _, c := range p.silent {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

// requests returns how many requests with opcode op the proxy has passed
// to the server.
func (p *proxy) requests(op int32) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent[op]
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		blocked, muted := p.blocked, p.muted
		if muted != nil {
			p.silent = append(p.silent, c)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				_, _ = io.Copy(io.Discard, c) // until the test's end closes it
			}()
			select {
			case <-muted:
			default:
				close(muted)
			}
		}
		p.mu.Unlock()
		if muted != nil {
			continue
		}
		if blocked {
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		pr := &pair{client: c, server: s}
		p.mu.Lock()
		p.pairs[pr] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.upstream(pr)
		go p.downstream(pr)
	}
}

func (p *proxy) drop(pr *pair) {
	pr.close()
	p.mu.Lock()
	delete(p.pairs, pr)
	p.mu.Unlock()
}

// readFrame reads one length-prefixed frame.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > 16<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	b := make([]byte, 4+n)
	copy(b, hdr[:])
	_, err := io.ReadFull(r, b[4:])
	return b, err
}

// upstream copies client frames to the server; the first is the connect
// request, the others start with xid and opcode.
func (p *proxy) upstream(pr *pair) {
	defer p.wg.Done()
	defer p.drop(pr)
	first := true
	for {
		f, err := readFrame(pr.client)
		if err != nil {
			return
		}
		if !first && len(f) >= 12 {
			xid := int32(binary.BigEndian.Uint32(f[4:]))
			op := int32(binary.BigEndian.Uint32(f[8:]))
			p.mu.Lock()
			p.sent[op]++
			if p.armed != 0 && op == p.armed {
				p.armed = 0
				pr.mu.Lock()
				pr.losing, pr.loseXid, pr.lostCh = true, xid, p.lostCh
				pr.mu.Unlock()
			}
			p.mu.Unlock()
		}
		first = false
		if _, err := pr.server.Write(f); err != nil {
			return
		}
	}
}

// downstream copies server frames to the client, except the reply to lose:
// that one is read (so the server did execute the request) and the
// connection is cut instead.
func (p *proxy) downstream(pr *pair) {
	defer p.wg.Done()
	defer p.drop(pr)
	first := true
	for {
		f, err := readFrame(pr.server)
		if err != nil {
			return
		}
		if !first && len(f) >= 8 {
			xid := int32(binary.BigEndian.Uint32(f[4:]))
			pr.mu.Lock()
			lose := pr.losing && xid == pr.loseXid
			ch := pr.lostCh
			pr.mu.Unlock()
			if lose {
				p.drop(pr)
				close(ch)
				return
			}
		}
		first = false
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if _, err := pr.client.Write(f); err != nil {
			return
		}
	}
}

// stall holds the server's replies back (requests still reach the server
// and are executed) until unstall.
func (p *proxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate == nil {
		p.gate = make(chan struct{})
	}
}

func (p *proxy) unstall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
}

// loseReply arms the proxy: the next request with opcode op reaches the
// server, but its reply is lost and the connection cut. The channel closes
// when that happened.
func (p *proxy) loseReply(op int32) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = op
	p.lostCh = make(chan struct{})
	return p.lostCh
}

// block cuts every connection and refuses new ones until unblock.
func (p *proxy) block() {
	p.mu.Lock()
	p.blocked = true
	prs := make([]*pair, 0, len(p.pairs))
	for pr := range p.pairs {
		prs = append(prs, pr)
	}
	p.mu.Unlock()
	for _, pr := range prs {
		p.drop(pr)
	}
}

// mute cuts every connection; until unmute, new connections are accepted
// and what the client sends is read, but never answered and never closed,
// as by a ZooKeeper 3.8 server that is still starting (see
// dialer.handshakeTimeoutLocked). The channel closes when the first such
// connection was accepted. The swallowed connections stay silent and open
// until the end of the test.
func (p *proxy) mute() <-chan struct{} {
	ch := make(chan struct{})
	p.mu.Lock()
	p.muted = ch
	prs := make([]*pair, 0, len(p.pairs))
	for pr := range p.pairs {
		prs = append(prs, pr)
	}
	p.mu.Unlock()
	for _, pr := range prs {
		p.drop(pr)
	}
	return ch
}

// unmute makes new connections reach the server again.
func (p *proxy) unmute() {
	p.mu.Lock()
	p.muted = nil
	p.mu.Unlock()
}

func (p *proxy) unblock() {
	p.mu.Lock()
	p.blocked = false
	p.mu.Unlock()
}

// closeSessionAs connects to a ZooKeeper server with another client's
// session ID and password and closes that session: the server deletes the
// session's ephemeral znodes at once and the owner finds its session
// expired when it next talks to the server. It is the well-known way to
// force a session expiry from a test.
func closeSessionAs(addr string, sid int64, pwd []byte, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly.
	body := binary.BigEndian.AppendUint32(nil, 0)
	body = binary.BigEndian.AppendUint64(body, 0)
	body = binary.BigEndian.AppendUint32(body, uint32(timeout.Milliseconds()))
	body = binary.BigEndian.AppendUint64(body, uint64(sid))
	body = binary.BigEndian.AppendUint32(body, uint32(len(pwd)))
	body = append(body, pwd...)
	body = append(body, 0)
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)); err != nil {
		return err
	}
	resp, err := readFrame(c)
	if err != nil {
		return fmt.Errorf("connect response: %w", err)
	}
	if len(resp) < 20 || int64(binary.BigEndian.Uint64(resp[12:])) != sid {
		return errors.New("the server did not resume the session (already expired?)")
	}
	// closeSession: xid 1, type -11, no body.
	req := binary.BigEndian.AppendUint32(nil, 8)
	req = binary.BigEndian.AppendUint32(req, 1)
	req = binary.BigEndian.AppendUint32(req, uint32(closeSessionOp))
	if _, err := c.Write(req); err != nil {
		return err
	}
	for {
		f, err := readFrame(c)
		if err != nil {
			return fmt.Errorf("closeSession reply: %w", err)
		}
		if len(f) >= 20 && int32(binary.BigEndian.Uint32(f[4:])) == 1 {
			if code := int32(binary.BigEndian.Uint32(f[16:])); code != 0 {
				return fmt.Errorf("closeSession: error %d", code)
			}
			return nil
		}
	}
}
