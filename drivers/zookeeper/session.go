// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// session is one ZooKeeper session, with a client of its own. The client
// is never used for another session: when the server expires the session,
// the client's dialer refuses to reconnect (the client would otherwise
// open a new session on its own, under the feet of whoever still believes
// in the old one) and the client is closed.
type session struct {
	c    *conn
	zk   *zk.Conn // set before the session is published
	dial *dialer

	established chan struct{} // closed at the first StateHasSession
	// scope ends when the session does, and every ownership issued under
	// it with it.
	scope *driverkit.Scope

	mu        sync.Mutex
	sid       int64
	connected chan struct{} // closed while the client has the session; replaced on disconnection
	isConn    bool
	gen       int // counts the times the client got the session (reconnections)
	dead      error
	// owned are the ownerships whose znode a watch follows, by
	// path: the client's event callback ends one whose znode is deleted.
	owned map[string]*ownership
	// dirs are the lock directories of contending or owning Acquires, by
	// path: their child watch may follow an ownership (dirwatch.go).
	dirs map[string]*dirWatch
	// pending are znodes of the session to delete once the connection
	// answers again (see deleteQuietly).
	pending driverkit.Pending[string]
}

// newSession opens a client and waits until it has a session. It fails
// with tooz.ErrConnection when no host can be reached within the session
// timeout (or at once when every host refused the connection) and with
// tooz.ErrAuth when the server rejects the credentials.
func (c *conn) newSession(ctx context.Context) (*session, error) {
	scope := driverkit.NewScope(context.Background())
	s := &session{
		c:           c,
		established: make(chan struct{}),
		scope:       scope,
		connected:   make(chan struct{}),
		owned:       map[string]*ownership{},
		dirs:        map[string]*dirWatch{},
	}
	s.dial = newDialer(len(c.hosts), c.timeout, s.onConnectResponse)
	s.dial.log = c.log
	s.dial.tls = c.tls
	logger := zkLogger{c: c}
	z, _, err := zk.Connect(c.hosts, c.timeout,
		zk.WithDialer(s.dial.dialContext),
		zk.WithHostProvider(&hostList{}),
		zk.WithEventCallback(s.onEvent),
		zk.WithLogger(logger),
		zk.WithLogInfo(false),
		zk.WithMaxBufferSize(4<<20),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", tooz.ErrConnection, err)
	}
	s.zk = z
	wait := max(c.timeout, 2*time.Second)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	fail := func(err error) (*session, error) {
		s.end(err)
		select {
		case <-s.established:
			// Close the session (closeSession) rather than leave it to time out.
		default:
			s.dial.cut()
		}
		c.spawn(s.closeZK)
		return nil, err
	}
	select {
	case <-s.established:
	case <-s.dial.allFailed:
		return fail(fmt.Errorf("%w: %v", tooz.ErrConnection, s.dial.lastError()))
	case <-timer.C:
		return fail(fmt.Errorf("%w: no session within %v (last error: %v)", tooz.ErrConnection, wait, s.dial.lastError()))
	case <-ctx.Done():
		return fail(fmt.Errorf("%w: %w", tooz.ErrConnection, ctx.Err()))
	}
	if c.auth != nil {
		_, err := call(ctx, func() (struct{}, error) { return struct{}{}, z.AddAuth("digest", c.auth) })
		if err != nil {
			if errors.Is(err, zk.ErrAuthFailed) || errors.Is(err, zk.ErrNoAuth) {
				return fail(fmt.Errorf("%w: digest credentials rejected", tooz.ErrAuth))
			}
			return fail(c.mapErr(err))
		}
	}
	if want, got := c.timeout, s.dial.negotiated(); got > 0 && got != want {
		c.log.Warn("tooz: the zookeeper server changed the session timeout (see its minSessionTimeout and maxSessionTimeout)",
			"requested", want, "negotiated", got)
	}
	return s, nil
}

// onConnectResponse records the session the server granted on a connection.
func (s *session) onConnectResponse(sid int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sid != 0 {
		s.sid = sid
	}
}

// id returns the session ID (0 before it is established).
func (s *session) id() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sid
}

// onEvent receives the client's events, on the client's goroutine.
func (s *session) onEvent(ev zk.Event) {
	switch ev.Type {
	case zk.EventSession:
	case zk.EventNodeChildrenChanged:
		s.dirEvent(ev.Path)
		return
	case zk.EventNodeDeleted:
		s.dirEvent(ev.Path) // a child watch fires on its znode's deletion too
		s.ownedEvent(ev)
		return
	default:
		s.ownedEvent(ev)
		return
	}
	var report SessionState
	reconnected := false
	s.mu.Lock()
	switch ev.State {
	case zk.StateHasSession:
		if !s.isConn {
			s.isConn = true
			s.gen++
			reconnected = s.gen > 1
			close(s.connected)
		}
		select {
		case <-s.established:
		default:
			close(s.established)
		}
		if s.dead == nil {
			report = StateConnected
		}
	case zk.StateDisconnected, zk.StateConnecting:
		if s.isConn {
			s.isConn = false
			s.connected = make(chan struct{})
			if s.dead == nil {
				report = StateSuspended
			}
		}
	case zk.StateExpired:
		s.mu.Unlock()
		s.dial.refuse() // never let the client open a session of its own
		if s.end(zk.ErrSessionExpired) {
			s.c.sessionEvent(s, StateLost)
			s.c.spawn(s.closeZK)
		}
		return
	case zk.StateAuthFailed:
		s.c.log.Error("tooz: zookeeper rejected the client's authentication")
	}
	s.mu.Unlock()
	if report != 0 {
		s.c.sessionEvent(s, report)
	}
	if reconnected {
		s.c.runPending(s) // what failed while the connection was down
	}
}

// end marks the session ended with why and ends every ownership issued
// under it. It reports whether this call ended it.
func (s *session) end(why error) bool {
	s.mu.Lock()
	if s.dead != nil {
		s.mu.Unlock()
		return false
	}
	s.dead = why
	s.owned = nil
	s.dirs = nil
	s.mu.Unlock()
	s.pending.Drop() // the server deletes the session's znodes
	s.scope.End()
	return true
}

// deadErr returns why the session ended, or nil while it lives.
func (s *session) deadErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// own ties a new ownership to the session, so that the session's end
// ends it; it fails when the session already ended.
func (s *session) own() (*ownership, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead != nil {
		return nil, false
	}
	return &ownership{c: s.c, s: s, Hold: s.scope.Hold()}, true
}

// isConnected reports whether the client has the session right now.
func (s *session) isConnected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isConn && s.dead == nil
}

// waitConnected waits until the client has its session again, the session
// ends, ctx ends or d passes.
func (s *session) waitConnected(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	ch := s.connected
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-s.scope.Done():
		return s.deadErr()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("not reconnected")
	}
}

// closeZK stops the client. For a live session it sends closeSession, so
// that the server deletes the session's ephemeral znodes at once; after
// dial.cut it cannot send anything.
func (s *session) closeZK() {
	s.zk.Close()
}

// dialer makes the client's connections. It can cut them all and refuse
// new ones (Abandon, expiry), counts failures so that Open fails fast when
// every host refuses, and reads the server's answer to the client's
// connect request (session ID, negotiated timeout) as it passes. It
// also bounds how long a connection may wait for that answer (see
// handshakeTimeoutLocked).
type dialer struct {
	nhosts    int
	requested time.Duration // the session timeout asked for
	onConnect func(sid int64)
	allFailed chan struct{} // closed when every host failed in a row before any success
	log       *slog.Logger  // may be nil
	tls       *tls.Config   // zookeeper+tls: handshake on every connection (see dialOne)

	mu         sync.Mutex
	refused    bool
	conns      map[*trackedConn]struct{}
	fails      int
	succeeded  bool
	lastErr    error
	timeoutMs  int32
	sessionID  int64
	sessionPwd []byte
	signalled  bool
	blocked    bool // refuse for now (tests: a partition)

	// Creates whose reply zxid is wanted (see expectCreate).
	nwants atomic.Int32
	cmu    sync.Mutex
	wants  map[string]chan int64 // by path
	byXid  map[int32]chan int64  // by the xid of the request sent
}

var errRefused = errors.New("tooz: connection refused by the driver (session ended)")

func newDialer(nhosts int, timeout time.Duration, onConnect func(int64)) *dialer {
	return &dialer{nhosts: nhosts, requested: timeout, onConnect: onConnect, allFailed: make(chan struct{}), conns: map[*trackedConn]struct{}{}}
}

// minHandshake is the least time a server is given to answer the connect
// request, however short the session timeout.
const minHandshake = time.Second

// handshakeTimeoutLocked is how long a new connection may wait for the server's
// answer to the connect request: a third of the session timeout (the one
// the server granted, once known), at least minHandshake. d.mu is held.
//
// The client (go-zookeeper) waits ten times its receive timeout for that
// answer, nearly seven session timeouts, on the assumption that a server
// either answers or closes the connection. A ZooKeeper 3.8 server that is
// still starting does neither: it accepts connections before its database
// is loaded, refuses the connect request, and its attempt to close the
// connection dies on a NullPointerException (ZooKeeperServer.removeCnxn,
// zkDb still null) before the socket is closed, so the socket stays open
// and silent for the life of the server. A client that connected in that
// window would stay suspended until its session expired although the
// server came up a moment later. Like the Java client, which bounds the
// handshake by the session timeout divided by the number of hosts, give
// up early enough that a retry can still resume the session: a third
// leaves two thirds of the session to reconnect.
func (d *dialer) handshakeTimeoutLocked() time.Duration {
	st := d.requested
	if d.timeoutMs > 0 {
		st = time.Duration(d.timeoutMs) * time.Millisecond
	}
	return max(st/3, minHandshake)
}

func (d *dialer) dialContext(network, addr string, timeout time.Duration) (net.Conn, error) {
	d.mu.Lock()
	if d.refused || d.blocked {
		d.mu.Unlock()
		return nil, errRefused
	}
	d.mu.Unlock()
	nc, err := d.dialOne(network, addr, timeout)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.lastErr = err
		d.fails++
		if !d.succeeded && d.fails >= d.nhosts && !d.signalled {
			d.signalled = true
			close(d.allFailed)
		}
		return nil, err
	}
	if d.refused || d.blocked {
		nc.Close()
		return nil, errRefused
	}
	d.fails = 0
	d.succeeded = true
	hs := d.handshakeTimeoutLocked()
	tc := &trackedConn{Conn: nc, d: d, handshake: time.Now().Add(hs), hsTimeout: hs}
	if err := nc.SetReadDeadline(tc.handshake); err != nil {
		nc.Close()
		return nil, err
	}
	d.conns[tc] = struct{}{}
	return tc, nil
}

func (d *dialer) lastError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lastErr == nil {
		return errors.New("no answer")
	}
	return d.lastErr
}

// negotiated returns the session timeout the server granted last.
func (d *dialer) negotiated() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Duration(d.timeoutMs) * time.Millisecond
}

// credentials returns the session ID and password the server granted last.
func (d *dialer) credentials() (int64, []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sessionID, append([]byte(nil), d.sessionPwd...)
}

// refuse makes every later dial fail.
func (d *dialer) refuse() {
	d.mu.Lock()
	d.refused = true
	d.mu.Unlock()
}

// cut refuses every later dial and closes the open connections.
func (d *dialer) cut() {
	d.mu.Lock()
	d.refused = true
	conns := d.conns
	d.conns = map[*trackedConn]struct{}{}
	d.mu.Unlock()
	for tc := range conns {
		tc.Conn.Close()
	}
}

// block closes the open connections and refuses new ones until unblock,
// as a network partition would (for tests).
func (d *dialer) block() {
	d.mu.Lock()
	d.blocked = true
	conns := d.conns
	d.conns = map[*trackedConn]struct{}{}
	d.mu.Unlock()
	for tc := range conns {
		tc.Conn.Close()
	}
}

// unblock ends a block.
func (d *dialer) unblock() {
	d.mu.Lock()
	d.blocked = false
	d.mu.Unlock()
}

// opCreate is ZooKeeper's create request.
const opCreate = 1

// expectCreate asks for the zxid of the reply to the next create of path:
// the created znode's czxid, which the client does not pass on. When the
// reply comes through, the channel holds it before the create returns.
func (d *dialer) expectCreate(path string) <-chan int64 {
	ch := make(chan int64, 1)
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if d.wants == nil {
		d.wants = map[string]chan int64{}
		d.byXid = map[int32]chan int64{}
	}
	d.wants[path] = ch
	d.nwants.Add(1)
	return ch
}

// forgetCreate ends an expectCreate.
func (d *dialer) forgetCreate(path string) {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	ch, ok := d.wants[path]
	if !ok {
		return
	}
	delete(d.wants, path)
	d.nwants.Add(-1)
	for xid, c := range d.byXid {
		if c == ch {
			delete(d.byXid, xid)
		}
	}
}

// noteRequest looks at a request frame the client writes (the client
// writes each frame whole: length, xid, opcode, body) for a create
// of an expected path: length, xid, opcode, then the path as a
// length-prefixed string.
func (d *dialer) noteRequest(p []byte) {
	if d.nwants.Load() == 0 || len(p) < 16 || int32(binary.BigEndian.Uint32(p[8:])) != opCreate {
		return
	}
	n := int(int32(binary.BigEndian.Uint32(p[12:])))
	if n <= 0 || 16+n > len(p) {
		return
	}
	xid := int32(binary.BigEndian.Uint32(p[4:]))
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if ch, ok := d.wants[string(p[16:16+n])]; ok {
		d.byXid[xid] = ch
	}
}

// noteReply looks at a reply header: xid, zxid, error code.
func (d *dialer) noteReply(h []byte) {
	if d.nwants.Load() == 0 {
		return
	}
	xid := int32(binary.BigEndian.Uint32(h))
	d.cmu.Lock()
	defer d.cmu.Unlock()
	ch, ok := d.byXid[xid]
	if !ok {
		return
	}
	delete(d.byXid, xid)
	if code := int32(binary.BigEndian.Uint32(h[12:])); code == 0 {
		select {
		case ch <- int64(binary.BigEndian.Uint64(h[4:])):
		default:
		}
	}
}

// trackedConn is a client connection the dialer can cut. It follows the
// length-prefixed frames the server sends: the first is the connect
// response (protocolVersion int32, timeOut int32, sessionId int64, passwd
// buffer), the others start with a reply header (xid int32, zxid int64,
// err int32), which it hands to the dialer before the client reads on.
// Until the connect response is in, its read deadline is never later than
// the handshake deadline (see dialer.handshakeTimeoutLocked).
type trackedConn struct {
	net.Conn
	d *dialer

	handshake time.Time     // the connect response is due by then
	hsTimeout time.Duration // for the log line
	shaken    atomic.Bool   // the connect response was received

	wrote bool // the first frame written, the connect request, is not a request

	// Read side: only the client's reader goroutine reads.
	frames int      // frames received completely
	inBody bool     // reading a frame's body (else its length)
	lenBuf [4]byte  // the length being read
	lenN   int      // bytes of it read
	left   int      // bytes of the body still to come
	head   []byte   // the start of the body: the connect response, or a reply header
	hdr    [16]byte // storage for reply headers
}

// Write implements net.Conn.
func (t *trackedConn) Write(p []byte) (int, error) {
	if t.wrote {
		t.d.noteRequest(p)
	}
	t.wrote = true
	return t.Conn.Write(p)
}

// Read implements net.Conn.
func (t *trackedConn) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.follow(p[:n])
	if err != nil && !t.shaken.Load() && errors.Is(err, os.ErrDeadlineExceeded) && t.d.log != nil {
		t.d.log.Warn("tooz: the zookeeper server accepted the connection but did not answer the connect request; trying again",
			"server", t.RemoteAddr().String(), "waited", t.hsTimeout)
	}
	return n, err
}

// SetReadDeadline implements net.Conn: until the connect response is in,
// the handshake deadline caps the client's (which is far too late; "no
// deadline" included).
func (t *trackedConn) SetReadDeadline(dl time.Time) error {
	if !t.shaken.Load() && (dl.IsZero() || dl.After(t.handshake)) {
		dl = t.handshake
	}
	return t.Conn.SetReadDeadline(dl)
}

// SetDeadline implements net.Conn, capping the read side as
// SetReadDeadline does.
func (t *trackedConn) SetDeadline(dl time.Time) error {
	if err := t.Conn.SetWriteDeadline(dl); err != nil {
		return err
	}
	return t.SetReadDeadline(dl)
}

// follow advances through the received bytes b.
func (t *trackedConn) follow(b []byte) {
	for len(b) > 0 {
		if !t.inBody {
			k := copy(t.lenBuf[t.lenN:], b)
			t.lenN += k
			b = b[k:]
			if t.lenN == 4 {
				t.lenN = 0
				t.inBody = true
				t.left = int(binary.BigEndian.Uint32(t.lenBuf[:]))
				if t.frames == 0 {
					t.head = nil
				} else {
					t.head = t.hdr[:0]
				}
				if t.left == 0 {
					t.frameDone()
				}
			}
			continue
		}
		k := min(t.left, len(b))
		limit := len(t.hdr)
		if t.frames == 0 {
			limit = 1024
		}
		if room := limit - len(t.head); room > 0 {
			t.head = append(t.head, b[:min(room, k)]...)
		}
		t.left -= k
		b = b[k:]
		if t.left == 0 {
			t.frameDone()
		}
	}
}

func (t *trackedConn) frameDone() {
	t.inBody = false
	if t.frames == 0 {
		t.connectResponse(t.head)
		// The handshake is over: the client's deadlines apply from now
		// on (it sets one before each read; clear the handshake's).
		t.shaken.Store(true)
		_ = t.Conn.SetReadDeadline(time.Time{})
	} else if len(t.head) == len(t.hdr) {
		t.d.noteReply(t.head)
	}
	t.frames++
}

// connectResponse records what the server granted.
func (t *trackedConn) connectResponse(b []byte) {
	if len(b) < 20 {
		return
	}
	timeout := int32(binary.BigEndian.Uint32(b[4:]))
	sid := int64(binary.BigEndian.Uint64(b[8:]))
	var pwd []byte
	if n := int(int32(binary.BigEndian.Uint32(b[16:]))); n > 0 && 20+n <= len(b) {
		pwd = append([]byte(nil), b[20:20+n]...)
	}
	t.d.mu.Lock()
	if sid != 0 {
		t.d.timeoutMs, t.d.sessionID, t.d.sessionPwd = timeout, sid, pwd
	}
	t.d.mu.Unlock()
	if t.d.onConnect != nil {
		t.d.onConnect(sid)
	}
}

// Close implements net.Conn.
func (t *trackedConn) Close() error {
	t.d.mu.Lock()
	delete(t.d.conns, t)
	t.d.mu.Unlock()
	return t.Conn.Close()
}

// hostList hands the client the URL's hosts in turn, without resolving
// them up front (the dialer does). Unlike the client's default, the first
// attempt after a disconnection goes out at once; the client pauses for a
// second only after every host failed in a row.
type hostList struct {
	mu      sync.Mutex
	servers []string
	curr    int
	tried   int // attempts since the last successful connection
}

// Init implements zk.HostProvider.
func (h *hostList) Init(servers []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(servers) == 0 {
		return errors.New("no servers")
	}
	h.servers = append([]string(nil), servers...)
	rand.Shuffle(len(h.servers), func(i, j int) { h.servers[i], h.servers[j] = h.servers[j], h.servers[i] })
	h.curr = -1
	return nil
}

// Len implements zk.HostProvider.
func (h *hostList) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.servers)
}

// Next implements zk.HostProvider.
func (h *hostList) Next() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.curr = (h.curr + 1) % len(h.servers)
	h.tried++
	retryStart := h.tried > len(h.servers)
	if retryStart {
		h.tried = 1
	}
	return h.servers[h.curr], retryStart
}

// Connected implements zk.HostProvider.
func (h *hostList) Connected() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tried = 0
}

// zkLogger sends the client's log lines to the coordinator's logger at
// debug level: the driver logs what matters (suspension, reconnection,
// expiry) itself.
type zkLogger struct{ c *conn }

func (l zkLogger) Printf(format string, args ...any) {
	l.c.log.Debug("zk: " + fmt.Sprintf(format, args...))
}
