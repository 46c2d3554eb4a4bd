// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package nemesis

import (
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy between one client process and the backend, so
// that the nemesis can slow that client's link (SetDelay) without touching
// the others. Partitions are not its job: they are real firewall rules in
// the client's network namespace (see internal/netlab).
type Proxy struct {
	ln     net.Listener
	target string
	quit   chan struct{} // closed by Close

	mu     sync.Mutex
	delay  time.Duration
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return ServeProxy(ln, target), nil
}

// ServeProxy forwards the connections that ln accepts to target, until
// Close (which closes ln).
func ServeProxy(ln net.Listener, target string) *Proxy {
	p := &Proxy{ln: ln, target: target, quit: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p
}

// Addr is the host:port clients connect to instead of the backend.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetDelay makes the proxy hold every chunk of data, in both directions,
// for d after it read it before passing it on (0: no delay). Order is kept:
// a chunk never overtakes an earlier one, so lowering the delay takes effect
// once the data held under the old delay has gone.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = max(d, 0)
	p.mu.Unlock()
}

func (p *Proxy) currentDelay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delay
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.quit)
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return // the backend is down: the client sees its connection closed
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c); done <- struct{}{} }()
	go func() { p.pipe(c, up); done <- struct{}{} }()
	<-done
	// One side ended: close both so that the other copy ends too.
	c.Close()
	up.Close()
	<-done
}

// chunk is data read from one side, due to be written at due.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst: a reader stamps every chunk with the time it is
// due (now + the delay), and the writer passes the chunks on in order, each
// at its time.
func (p *Proxy) pipe(dst, src net.Conn) {
	q := make(chan chunk, 64)
	stop := make(chan struct{})
	defer close(stop)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case q <- chunk{b: buf[:n], due: time.Now().Add(p.currentDelay())}:
				case <-stop:
					return
				}
			}
			if err != nil {
				return // EOF or a closed connection: serve closes both sides
			}
		}
	}()
	for c := range q {
		if wait := time.Until(c.due); wait > 0 {
			timer := time.NewTimer(wait) // the injected latency
			select {
			case <-timer.C:
			case <-p.quit:
				timer.Stop()
				return
			}
		}
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
}
