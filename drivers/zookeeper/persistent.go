// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package zookeeper

// A group watch that sees every change: ZooKeeper 3.6+ persistent
// recursive watches (AddWatch). go-zookeeper v1.0.4 cannot send AddWatch,
// so the watch speaks the few requests it needs itself, on a connection
// and session of its own: connect, digest auth, AddWatch, GetChildren2,
// GetData, ping, close. A persistent watch stays registered after it
// fires, so no change made between a notification and the next read goes
// unseen, as it does with one-shot child watches. Reads on the same
// connection are ordered with the notifications, so what a read returns is
// never older than the notifications before it.
//
// When the server does not know AddWatch (older than 3.6) the driver falls
// back to one-shot child watches (groups.go).

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/membersink"
)

// ZooKeeper wire constants (jute).
const (
	opGetData      = 4
	opSync         = 9
	opPing         = 11
	opGetChildren2 = 12
	opAddWatch     = 106
	opCloseSession = -11
	opAuth         = 100

	xidNotification = -1
	xidPing         = -2
	xidAuth         = -4

	codeUnimplemented = -6
	codeNoNode        = -101

	evNodeCreated     = 1
	evNodeDeleted     = 2
	evNodeDataChanged = 3

	addWatchPersistentRecursive = 1

	// maxFrame bounds a reply (a member's data is at most
	// MaxCapabilitiesLength plus a header; a listing of many members is
	// the largest).
	maxFrame = 16 << 20
)

// errNoPersistentWatch reports a server without AddWatch.
var errNoPersistentWatch = errors.New("zookeeper: the server has no persistent watches (3.6+)")

// zkErr is an error code in a reply header.
type zkErr int32

func (e zkErr) Error() string { return fmt.Sprintf("zookeeper error code %d", int32(e)) }

// enc builds a request.
type enc struct{ b []byte }

func (e *enc) i32(v int32)    { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }
func (e *enc) i64(v int64)    { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *enc) bytes(p []byte) { e.i32(int32(len(p))); e.b = append(e.b, p...) }
func (e *enc) str(s string)   { e.i32(int32(len(s))); e.b = append(e.b, s...) }
func (e *enc) boolean(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// frame returns e's bytes with the length prefix.
func (e *enc) frame() []byte {
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(e.b)), uint32(len(e.b)))
	return append(out, e.b...)
}

// dec reads a reply; the first error sticks.
type dec struct {
	b   []byte
	err error
}

var errShort = errors.New("zookeeper: short reply")

func (d *dec) take(n int) []byte {
	if d.err != nil || n < 0 || len(d.b) < n {
		d.err = errShort
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) i32() int32 {
	if p := d.take(4); p != nil {
		return int32(binary.BigEndian.Uint32(p))
	}
	return 0
}

func (d *dec) i64() int64 {
	if p := d.take(8); p != nil {
		return int64(binary.BigEndian.Uint64(p))
	}
	return 0
}

func (d *dec) buf() []byte {
	n := d.i32()
	if n < 0 { // null
		return nil
	}
	return d.take(int(n))
}

func (d *dec) stat() zk.Stat {
	return zk.Stat{
		Czxid: d.i64(), Mzxid: d.i64(), Ctime: d.i64(), Mtime: d.i64(),
		Version: d.i32(), Cversion: d.i32(), Aversion: d.i32(),
		EphemeralOwner: d.i64(), DataLength: d.i32(), NumChildren: d.i32(), Pzxid: d.i64(),
	}
}

// reply is one frame from the server.
type reply struct {
	xid  int32
	zxid int64
	err  int32
	body dec
}

// pconn is a raw client connection with its own session.
type pconn struct {
	nc      net.Conn
	br      *bufio.Reader
	timeout time.Duration // negotiated
	xid     int32
}

// dialPersistent connects to one of c's servers and opens a session.
func (c *conn) dialPersistent(ctx context.Context) (*pconn, error) {
	hosts := append([]string(nil), c.hosts...)
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	var last error
	for _, h := range hosts {
		p, err := c.dialOne(ctx, h)
		if err == nil {
			return p, nil
		}
		var ze zkErr
		if errors.As(err, &ze) || errors.Is(err, tooz.ErrAuth) || ctx.Err() != nil {
			return nil, err
		}
		last = err
	}
	return nil, last
}

// watchHandshake bounds the connect handshake of a group watch's
// connection. The watch opens a session of its own each time (it resumes
// none), so unlike the coordinator's session it gains nothing from a long
// handshake, and a server still starting holds a connection open and
// silent (see dialer.handshakeTimeoutLocked): give up soon and dial again.
const watchHandshake = 2 * minHandshake

func (c *conn) dialOne(ctx context.Context, host string) (*pconn, error) {
	hs := min(max(c.timeout/3, minHandshake), watchHandshake)
	dctx, cancel := context.WithTimeout(ctx, hs)
	defer cancel()
	// Over zookeeper+tls the watch's connection is a TLS one too.
	nc, err := dial(dctx, c.tls, "tcp", host)
	if err != nil {
		return nil, err
	}
	p := &pconn{nc: nc, br: bufio.NewReader(nc)}
	fail := func(err error) (*pconn, error) {
		nc.Close()
		return nil, err
	}
	dl, _ := dctx.Deadline()
	_ = nc.SetDeadline(dl)
	var e enc
	e.i32(0) // protocol version
	e.i64(0) // last zxid seen
	e.i32(int32(c.timeout / time.Millisecond))
	e.i64(0) // new session
	e.bytes(make([]byte, 16))
	e.boolean(false) // not read-only
	if _, err := nc.Write(e.frame()); err != nil {
		return fail(err)
	}
	b, err := p.readFrame()
	if err != nil {
		return fail(err)
	}
	r := dec{b: b}
	r.i32() // protocol version
	to := r.i32()
	sid := r.i64()
	if r.err != nil || sid == 0 || to <= 0 {
		return fail(errors.New("zookeeper: the server refused the session (still starting?)"))
	}
	p.timeout = time.Duration(to) * time.Millisecond
	if c.auth != nil {
		var a enc
		a.i32(xidAuth)
		a.i32(opAuth)
		a.i32(0)
		a.str("digest")
		a.bytes(c.auth)
		if _, err := nc.Write(a.frame()); err != nil {
			return fail(err)
		}
		for {
			rep, err := p.read()
			if err != nil {
				return fail(err)
			}
			if rep.xid != xidAuth {
				continue
			}
			if rep.err != 0 {
				return fail(fmt.Errorf("%w: digest credentials rejected", tooz.ErrAuth))
			}
			break
		}
	}
	_ = nc.SetDeadline(time.Time{})
	return p, nil
}

func (p *pconn) readFrame() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(p.br, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n > maxFrame {
		return nil, fmt.Errorf("zookeeper: a reply of %d bytes exceeds %d", n, maxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p.br, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (p *pconn) read() (reply, error) {
	b, err := p.readFrame()
	if err != nil {
		return reply{}, err
	}
	d := dec{b: b}
	r := reply{xid: d.i32(), zxid: d.i64(), err: d.i32()}
	if d.err != nil {
		return reply{}, d.err
	}
	r.body = d
	return r, nil
}

// send writes a request with a fresh xid (or xid, when nonzero) and returns the xid.
func (p *pconn) send(xid, op int32, body func(*enc)) (int32, error) {
	if xid == 0 {
		p.xid++
		xid = p.xid
	}
	_ = p.nc.SetWriteDeadline(time.Now().Add(p.timeout))
	_, err := p.nc.Write(request(xid, op, body))
	return xid, err
}

// readMany reads the znodes dir/name on a connection and session of its
// own: a sync (so that no read is older than the caller's view), then
// the reads, readBatch requests per write, each batch answered before the
// next is written (the server stops reading a connection with more than
// its globalOutstandingLimit, 1,000 by default, requests in flight). It
// returns the znodes that exist, in the order of names: about one round
// trip per batch, where the session's client needs several.
func (c *conn) readMany(ctx context.Context, dir string, names []string) ([]pnode, error) {
	p, err := c.dialPersistent(ctx)
	if err != nil {
		return nil, err
	}
	defer p.close()
	stop := context.AfterFunc(ctx, func() { _ = p.nc.Close() })
	defer stop()
	out := make([]pnode, 0, len(names))
	for start := 0; start < len(names); start += readBatch {
		end := min(start+readBatch, len(names))
		var buf []byte
		syncXid := int32(0)
		if start == 0 {
			p.xid++
			syncXid = p.xid
			buf = append(buf, request(syncXid, opSync, func(e *enc) { e.str(dir) })...)
		}
		first := p.xid + 1
		for i := start; i < end; i++ {
			p.xid++
			buf = append(buf, request(p.xid, opGetData, func(e *enc) { e.str(dir + "/" + names[i]); e.boolean(false) })...)
		}
		_ = p.nc.SetDeadline(time.Now().Add(max(p.timeout, 2*time.Second)))
		if _, err := p.nc.Write(buf); err != nil {
			return nil, err
		}
		got := make([]*pnode, end-start)
		for left := end - start; left > 0; {
			r, err := p.read()
			if err != nil {
				return nil, err
			}
			i := int(r.xid - first)
			switch {
			case syncXid != 0 && r.xid == syncXid:
				if r.err != 0 && r.err != codeNoNode {
					return nil, zkErr(r.err)
				}
				continue
			case i < 0 || i >= len(got):
				continue // a ping or notification
			}
			left--
			switch r.err {
			case 0:
				n := pnode{name: names[start+i], data: r.body.buf(), st: r.body.stat()}
				if r.body.err != nil {
					return nil, r.body.err
				}
				got[i] = &n
			case codeNoNode: // gone meanwhile
			default:
				return nil, zkErr(r.err)
			}
		}
		for _, n := range got {
			if n != nil {
				out = append(out, *n)
			}
		}
	}
	return out, nil
}

// request returns one request frame; body may be nil.
func request(xid, op int32, body func(*enc)) []byte {
	var e enc
	e.i32(xid)
	e.i32(op)
	if body != nil {
		body(&e)
	}
	return e.frame()
}

// close ends the session at once (so the server drops it and its watch)
// and the connection.
func (p *pconn) close() {
	_, _ = p.send(0, opCloseSession, nil)
	_ = p.nc.Close()
}

// pwatch is one persistent watch of a directory: a group's members or
// the keys of the key/value namespace, as its view says.
type pwatch struct {
	c      *conn
	dir    string
	view   pview
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	cur *watchConn // the connection in use (tests cut it)
}

// pview is what a persistent watch reports to.
type pview interface {
	// what names the watch in log lines.
	what() string
	// follows reports whether the child znode name is one the view reports.
	follows(name string) bool
	// snapshot reports the children listed, with their data, at zxid.
	snapshot(nodes []pnode, zxid int64)
	// change reports one change, once its read (if any) is answered.
	change(pd *pending)
}

// pnode is a child znode as read.
type pnode struct {
	name string
	data []byte
	st   zk.Stat
}

// pending is a notification waiting for the read of its znode's data.
type pending struct {
	kind     int32  // evNodeCreated, evNodeDeleted, evNodeDataChanged
	name     string // the child znode's name
	xid      int32  // of the GetData, 0 for a deletion
	resolved bool
	data     []byte
	st       zk.Stat
	found    bool
	zxid     int64
}

// startPersistent sets up a persistent watch on dir and reports its
// first snapshot to view before it returns. It fails with
// errNoPersistentWatch when the server has no persistent watches.
func (c *conn) startPersistent(ctx context.Context, dir string, view pview) (*pwatch, error) {
	w := &pwatch{c: c, dir: dir, view: view, done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	pc, err := w.open(ctx)
	if err != nil {
		w.cancel()
		return nil, err
	}
	go w.run(pc)
	return w, nil
}

// watchConn is one connection of a watch, with its reader and the
// changes still waiting for their reads.
type watchConn struct {
	p        *pconn
	frames   chan frameOrErr
	stopRead context.CancelFunc
	ping     *time.Ticker
	queue    []*pending
}

func (pc *watchConn) close() {
	pc.stopRead()
	pc.ping.Stop()
	pc.p.close()
}

// open connects, adds the watch and reports a snapshot.
func (w *pwatch) open(ctx context.Context) (*watchConn, error) {
	p, err := w.c.dialPersistent(ctx)
	if err != nil {
		return nil, err
	}
	rctx, stopRead := context.WithCancel(w.ctx)
	pc := &watchConn{p: p, frames: make(chan frameOrErr, 64), stopRead: stopRead, ping: time.NewTicker(p.timeout / 3)}
	go readLoop(rctx, p, pc.frames)
	pc.queue, err = w.setup(ctx, pc)
	if err != nil {
		pc.close()
		return nil, err
	}
	w.mu.Lock()
	w.cur = pc
	w.mu.Unlock()
	return pc, nil
}

type frameOrErr struct {
	r   reply
	err error
}

// readLoop reads frames until an error, which it sends last. A server
// that stays silent past the session timeout counts as gone.
func readLoop(ctx context.Context, p *pconn, out chan<- frameOrErr) {
	for {
		_ = p.nc.SetReadDeadline(time.Now().Add(p.timeout))
		r, err := p.read()
		select {
		case out <- frameOrErr{r, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// next waits for the next frame, sending a ping whenever the ticker says
// (every third of the session timeout, however busy the watch).
func (w *pwatch) next(ctx context.Context, pc *watchConn) (reply, error) {
	for {
		select {
		case f := <-pc.frames:
			return f.r, f.err
		case <-pc.ping.C:
			if _, err := pc.p.send(xidPing, opPing, nil); err != nil {
				return reply{}, err
			}
		case <-ctx.Done():
			return reply{}, ctx.Err()
		}
	}
}

// setup adds the watch, lists the directory with every child's data and
// reports the snapshot; notifications that come after the listing are
// returned, with their reads sent, to be reported after it.
func (w *pwatch) setup(ctx context.Context, pc *watchConn) ([]*pending, error) {
	p := pc.p
	addXid, err := p.send(0, opAddWatch, func(e *enc) { e.str(w.dir); e.i32(addWatchPersistentRecursive) })
	if err != nil {
		return nil, err
	}
	listXid, err := p.send(0, opGetChildren2, func(e *enc) { e.str(w.dir); e.boolean(false) })
	if err != nil {
		return nil, err
	}
	var (
		listed   bool
		rev      int64
		snapshot = map[int32]string{} // xid of a child's GetData -> its name
		nodes    []pnode
		queue    []*pending
	)
	for !listed || len(snapshot) > 0 {
		r, err := w.next(ctx, pc)
		if err != nil {
			return nil, err
		}
		switch {
		case r.xid == addXid:
			if r.err == codeUnimplemented {
				return nil, errNoPersistentWatch
			}
			if r.err != 0 {
				return nil, zkErr(r.err)
			}
		case r.xid == listXid:
			listed, rev = true, r.zxid
			if r.err == codeNoNode {
				break // no directory yet: an empty snapshot
			}
			if r.err != 0 {
				return nil, zkErr(r.err)
			}
			n := r.body.i32()
			for i := int32(0); i < n && r.body.err == nil; i++ {
				name := string(r.body.buf())
				if !w.view.follows(name) {
					continue
				}
				xid, err := p.send(0, opGetData, func(e *enc) { e.str(w.dir + "/" + name); e.boolean(false) })
				if err != nil {
					return nil, err
				}
				snapshot[xid] = name
			}
			if r.body.err != nil {
				return nil, r.body.err
			}
		case snapshot[r.xid] != "":
			name := snapshot[r.xid]
			delete(snapshot, r.xid)
			if r.err == 0 { // else gone meanwhile
				n := pnode{name: name, data: r.body.buf(), st: r.body.stat()}
				if r.body.err == nil {
					nodes = append(nodes, n)
				}
			}
		case r.xid == xidNotification:
			if !listed {
				continue // the listing has it
			}
			if pd, err := w.notified(p, r); err != nil {
				return nil, err
			} else if pd != nil {
				queue = append(queue, pd)
			}
		default:
			queue = w.resolve(queue, r)
		}
	}
	w.view.snapshot(nodes, rev)
	return queue, nil
}

// notified turns a notification into a pending change, sending the read
// of the znode's data it needs; nil for what the view does not follow.
func (w *pwatch) notified(p *pconn, r reply) (*pending, error) {
	typ := r.body.i32()
	r.body.i32() // state
	pth := string(r.body.buf())
	if r.body.err != nil {
		return nil, r.body.err
	}
	if path.Dir(pth) != w.dir {
		return nil, nil // the directory itself, or deeper
	}
	name := path.Base(pth)
	if !w.view.follows(name) {
		return nil, nil
	}
	pd := &pending{kind: typ, name: name}
	switch typ {
	case evNodeDeleted:
		pd.resolved = true
	case evNodeCreated, evNodeDataChanged:
		xid, err := p.send(0, opGetData, func(e *enc) { e.str(pth); e.boolean(false) })
		if err != nil {
			return nil, err
		}
		pd.xid = xid
	default:
		return nil, nil
	}
	return pd, nil
}

// resolve attaches a GetData reply to its pending change.
func (w *pwatch) resolve(queue []*pending, r reply) []*pending {
	for _, pd := range queue {
		if pd.xid == r.xid && !pd.resolved {
			pd.resolved = true
			pd.zxid = r.zxid
			if r.err == 0 {
				pd.data = r.body.buf()
				pd.st = r.body.stat()
				pd.found = r.body.err == nil
			}
			break
		}
	}
	return queue
}

// flush reports the resolved changes at the head of queue, in order.
func (w *pwatch) flush(queue []*pending) []*pending {
	for len(queue) > 0 && queue[0].resolved {
		pd := queue[0]
		queue[0] = nil
		queue = queue[1:]
		w.view.change(pd)
	}
	return queue
}

// run follows the watch; when the connection breaks it opens a new one
// and reports a new snapshot.
func (w *pwatch) run(pc *watchConn) {
	defer close(w.done)
	for {
		err := w.follow(pc)
		pc.close()
		if w.ctx.Err() != nil {
			return
		}
		w.c.log.Info("tooz: zookeeper watch connection lost; watching anew", "what", w.view.what(), "err", err)
		if h := w.c.testHoldWatches.Load(); h != nil {
			select {
			case <-*h:
			case <-w.ctx.Done():
				return
			}
		}
		for fails := 0; ; fails++ {
			if fails > 0 && !driverkit.Sleep(w.ctx, min(50*time.Millisecond<<min(fails-1, 6), 2*time.Second)) {
				return
			}
			ctx, cancel := context.WithTimeout(w.ctx, max(w.c.timeout, 2*time.Second))
			pc, err = w.open(ctx)
			cancel()
			if err == nil {
				break
			}
			if w.ctx.Err() != nil {
				return
			}
			w.c.log.Debug("tooz: re-establishing a zookeeper watch failed; retrying", "what", w.view.what(), "err", err)
		}
	}
}

// follow reports changes until the connection fails or the watch stops.
func (w *pwatch) follow(pc *watchConn) error {
	pc.queue = w.flush(pc.queue)
	for {
		r, err := w.next(w.ctx, pc)
		if err != nil {
			return err
		}
		switch r.xid {
		case xidPing:
		case xidNotification:
			pd, err := w.notified(pc.p, r)
			if err != nil {
				return err
			}
			if pd != nil {
				pc.queue = append(pc.queue, pd)
			}
		default:
			pc.queue = w.resolve(pc.queue, r)
		}
		pc.queue = w.flush(pc.queue)
	}
}

// stop ends the watch and waits for its goroutine: the sink is not called after.
func (w *pwatch) stop() {
	w.cancel()
	<-w.done
}

// cut closes the watch's connection, as a network failure would. For tests.
func (w *pwatch) cut() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur != nil {
		_ = w.cur.p.nc.Close()
	}
}

// memberView reports a group's members: ephemeral children named by an
// escaped member ID.
type memberView struct {
	c    *conn
	gp   string
	sink tooz.MemberSink
}

func (v memberView) what() string { return "group " + v.gp }

func (v memberView) follows(name string) bool {
	if _, err := keyspace.Unescape(name); err != nil || strings.HasPrefix(name, ".") {
		if !strings.HasPrefix(name, ".") {
			v.c.log.Warn("tooz: ignoring a znode that is not a member", "path", v.gp+"/"+name)
		}
		return false
	}
	return true
}

// member decodes a member znode; a persistent one belongs to no session
// and is no member.
func (v memberView) member(name string, data []byte, st *zk.Stat) (tooz.MemberInfo, bool) {
	id, err := keyspace.Unescape(name)
	if err != nil {
		return tooz.MemberInfo{}, false
	}
	if st.EphemeralOwner == 0 {
		v.c.log.Warn("tooz: ignoring a persistent znode among members", "path", v.gp+"/"+name)
		return tooz.MemberInfo{}, false
	}
	return info(id, data, st), true
}

func (v memberView) snapshot(nodes []pnode, zxid int64) {
	infos := make([]tooz.MemberInfo, 0, len(nodes))
	for i := range nodes {
		if m, ok := v.member(nodes[i].name, nodes[i].data, &nodes[i].st); ok {
			infos = append(infos, m)
		}
	}
	v.sink.Snapshot(infos, uint64(max(zxid, 0)))
}

func (v memberView) change(pd *pending) {
	id, err := keyspace.Unescape(pd.name)
	if err != nil {
		return
	}
	switch pd.kind {
	case evNodeDeleted:
		v.sink.Left(id, 0)
	case evNodeCreated:
		if !pd.found {
			// Joined and gone before its data could be read: the join is
			// reported, its deletion follows.
			v.sink.Joined(tooz.MemberInfo{ID: id}, uint64(max(pd.zxid, 0)))
		} else if m, ok := v.member(pd.name, pd.data, &pd.st); ok {
			v.sink.Joined(m, uint64(max(pd.st.Mzxid, 0)))
		}
	case evNodeDataChanged:
		if pd.found && pd.st.EphemeralOwner != 0 {
			v.sink.Updated(info(id, pd.data, &pd.st), uint64(max(pd.st.Mzxid, 0)))
		}
	}
}

// WatchMembers implements tooz.MemberWatcher with a persistent recursive
// watch (ZooKeeper 3.6+), which reports every change, capability updates
// included. On an older server it falls back to one-shot child watches,
// which report joins and leaves without capabilities, and no updates.
func (c *conn) WatchMembers(ctx context.Context, g string, sink tooz.MemberSink) (func(), error) {
	if _, err := c.live(); err != nil {
		return nil, err
	}
	if !c.noPersistent.Load() {
		gp := c.groupPath(g)
		w, err := c.startPersistent(ctx, gp, memberView{c: c, gp: gp, sink: sink})
		switch {
		case err == nil:
			return c.keepPersistent(w)
		case errors.Is(err, errNoPersistentWatch):
			c.noPersistent.Store(true)
			c.log.Info("tooz: the zookeeper server has no persistent watches (3.6+); group watches use child watches and may miss quick changes")
		case errors.Is(err, tooz.ErrAuth), ctx.Err() != nil:
			return nil, c.mapErr(err)
		default:
			return nil, fmt.Errorf("%w: group watch: %v", tooz.ErrConnection, err)
		}
	}
	return c.watchChildren(ctx, g, childSink{sink})
}

// keepPersistent registers a started persistent watch, so that Close
// stops it, and returns its stop function.
func (c *conn) keepPersistent(w *pwatch) (func(), error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		w.stop()
		return nil, tooz.ErrClosed
	}
	c.pwatches[w] = struct{}{}
	c.mu.Unlock()
	c.persistentWatches.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			w.stop()
			c.mu.Lock()
			delete(c.pwatches, w)
			c.mu.Unlock()
		})
	}, nil
}

// WatchGroup implements tooz.CoordinationDriver.
func (c *conn) WatchGroup(ctx context.Context, g string, sink tooz.GroupSink) (func(), error) {
	return c.WatchMembers(ctx, g, membersink.Legacy(sink))
}

// childSink feeds a MemberSink from the child watch, which knows IDs only.
type childSink struct{ s tooz.MemberSink }

func (c childSink) Reset(members []string) {
	infos := make([]tooz.MemberInfo, len(members))
	for i, m := range members {
		infos[i] = tooz.MemberInfo{ID: m}
	}
	c.s.Snapshot(infos, 0)
}
func (c childSink) Joined(member string) { c.s.Joined(tooz.MemberInfo{ID: member}, 0) }
func (c childSink) Left(member string)   { c.s.Left(member, 0) }

// errNotRenewed ends a session that its coordinator stopped renewing.
var errNotRenewed = errors.New("no heartbeat within the timeout (WithoutHeart)")

// EndSession implements tooz.SessionEnder: the client answers the server's
// pings on its own, so without it a coordinator opened WithoutHeart that
// never beats would stay a member for good. The session is closed on the
// server, which deletes its ephemeral znodes at once; the next Heartbeat
// opens a new session and reports ErrSessionLost.
func (c *conn) EndSession(ctx context.Context) error {
	s, _, closed := c.current()
	if closed {
		return tooz.ErrClosed
	}
	if s.end(errNotRenewed) {
		c.sessionEvent(s, StateLost)
		c.spawn(s.closeZK)
	}
	return nil
}
