// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/toozgo/tooz/internal/driverkit"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// deleteWatch tells a coordinator's ownerships when their keys are deleted
// out of band, for all of them on one etcd watch stream read by one
// goroutine: a held lock costs a watcher on the server and no goroutine
// here (clientv3 runs a goroutine per Watch call). Each key is watched
// from its create revision, for deletes only. The stream and its goroutine
// start with the first key and last until the conn closes. After a
// reconnect the watchers are created again from the revision each started
// from; a watcher the server cancels (that revision compacted) falls back
// to a read of the key, then watches from the read's revision.
//
// A watcher outlives its ownership: contender keys are reused (slots, see
// contender), so a coordinator that takes the same lock over and over
// finds its key's watcher in place, and an acquisition and release cost no
// watcher creation and cancellation on the stream (four messages and the
// server's work for them), only the event of the release's own delete.
// Up to maxIdleWatchers idle watchers are kept; older ones are cancelled.
type deleteWatch struct {
	c *conn

	mu      sync.Mutex
	keys    map[int64]*watchedKey  // by watch ID
	byKey   map[string]*watchedKey // the same, by key
	idle    []*watchedKey          // watchers no ownership uses, oldest first
	nextID  int64
	stream  pb.Watch_WatchClient // the current stream; nil while (re)connecting
	running bool                 // the goroutine runs
	cancel  context.CancelFunc   // ends the goroutine's stream

	sendMu sync.Mutex // serializes Send on the stream

	testHold atomic.Pointer[chan struct{}] // when set (tests): a new stream waits until it closes
}

// maxIdleWatchers bounds the watchers a deleteWatch keeps for reuse.
const maxIdleWatchers = 64

// watchedKey is one watched key. Guarded by deleteWatch.mu.
type watchedKey struct {
	id      int64
	key     string
	from    int64  // the revision from which on (exclusive) the key's deletion is looked for
	gone    func() // called once, on the goroutine, when the key is deleted; nil while idle
	use     int64  // counts the ownerships that used the watcher
	lastDel int64  // the revision of the last deletion the watcher reported
}

func newDeleteWatch(c *conn) *deleteWatch {
	return &deleteWatch{c: c, keys: map[int64]*watchedKey{}, byKey: map[string]*watchedKey{}}
}

// usable reports whether the raw watch API sees the keys the client
// writes: not when the application's client wraps its KV or Watcher (a
// namespace prefix), which a raw stream would bypass.
func usable(cli *clientv3.Client) bool {
	return fmt.Sprintf("%T", cli.Watcher) == "*clientv3.watcher" && fmt.Sprintf("%T", cli.KV) == "*clientv3.kv"
}

// add watches key, created at revision from, for its deletion; gone runs
// once, on the watch's goroutine, if it is deleted before remove is called.
// A watcher of the key already in place is taken over: a deletion it
// reported after from (before this call) fires gone at once.
func (d *deleteWatch) add(key string, from int64, gone func()) (remove func()) {
	d.mu.Lock()
	if k := d.byKey[key]; k != nil {
		d.unidle(k)
		k.from, k.gone = from, gone
		k.use++
		use := k.use
		missed := k.lastDel > from
		d.mu.Unlock()
		if missed {
			d.c.run.Go(func() { d.fire(k, use) })
		}
		return func() { d.remove(k, use) }
	}
	d.nextID++
	k := &watchedKey{id: d.nextID, key: key, from: from, gone: gone, use: 1}
	d.keys[k.id] = k
	d.byKey[key] = k
	st := d.stream
	if !d.running {
		d.running = true
		ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
		d.cancel = cancel
		if !d.c.run.Go(func() { d.loop(ctx) }) {
			d.running = false // closed: nothing will be watched
			cancel()
		}
	}
	d.mu.Unlock()
	if st != nil {
		d.send(st, createReq(k.id, key, from))
	}
	return func() { d.remove(k, 1) }
}

// unidle takes k out of the idle list. d.mu is held.
func (d *deleteWatch) unidle(k *watchedKey) {
	for i, x := range d.idle {
		if x == k {
			d.idle = append(d.idle[:i], d.idle[i+1:]...)
			return
		}
	}
}

func createReq(id int64, key string, from int64) *pb.WatchRequest {
	return &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte(key), StartRevision: from + 1, WatchId: id,
		Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NOPUT},
	}}}
}

func (d *deleteWatch) send(st pb.Watch_WatchClient, req *pb.WatchRequest) {
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	_ = st.Send(req) // a failed send shows on Recv, which reconnects and creates every watcher again
}

// remove ends the use-th use of k: it becomes idle, kept for the next
// ownership of the same key; the oldest idle watcher beyond
// maxIdleWatchers is cancelled. The stream stays open for the next key
// (a coordinator that takes and gives up one lock at a time would
// otherwise open a stream per acquisition) until the conn closes.
func (d *deleteWatch) remove(k *watchedKey, use int64) {
	d.mu.Lock()
	if k.use != use || k.gone == nil || d.keys[k.id] != k {
		d.mu.Unlock()
		return // taken over, already idle, or dropped
	}
	k.gone = nil
	d.idle = append(d.idle, k)
	var evict *watchedKey
	if len(d.idle) > maxIdleWatchers {
		evict = d.idle[0]
		d.idle = d.idle[1:]
		d.dropLocked(evict)
	}
	st := d.stream
	d.mu.Unlock()
	if evict != nil && st != nil {
		d.send(st, &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: evict.id}}})
	}
}

// dropLocked forgets k. d.mu is held.
func (d *deleteWatch) dropLocked(k *watchedKey) {
	delete(d.keys, k.id)
	if d.byKey[k.key] == k {
		delete(d.byKey, k.key)
	}
}

// loop keeps a stream with every key's watcher until ctx ends.
func (d *deleteWatch) loop(ctx context.Context) {
	retry := driverkit.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	for ctx.Err() == nil {
		if h := d.testHold.Load(); h != nil {
			select {
			case <-*h:
			case <-ctx.Done():
				return
			}
		}
		err := d.serve(ctx)
		if ctx.Err() != nil {
			return
		}
		d.c.log.Debug("tooz/etcd: the owner-key watch stream broke; watching again", "err", err)
		if !driverkit.Sleep(ctx, retry.Next()) {
			return
		}
	}
}

// serve opens a stream, creates every key's watcher on it and handles
// the answers until the stream fails or ctx ends.
func (d *deleteWatch) serve(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := pb.NewWatchClient(d.c.cli.ActiveConnection()).Watch(sctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	if ctx.Err() != nil {
		d.mu.Unlock()
		return ctx.Err()
	}
	d.stream = st
	// Idle watchers are not worth creating again.
	for _, k := range d.idle {
		d.dropLocked(k)
	}
	d.idle = nil
	reqs := make([]*pb.WatchRequest, 0, len(d.keys))
	for id, k := range d.keys {
		reqs = append(reqs, createReq(id, k.key, k.from))
	}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		if d.stream == st {
			d.stream = nil
		}
		d.mu.Unlock()
	}()
	for _, r := range reqs {
		d.send(st, r)
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return err
		}
		if err := d.handle(ctx, st, resp); err != nil {
			return err
		}
	}
}

// handle acts on one answer of the stream; an error asks for a new stream.
func (d *deleteWatch) handle(ctx context.Context, st pb.Watch_WatchClient, resp *pb.WatchResponse) error {
	// A response's header revision is no progress of its watcher: the
	// "created" answer carries the current revision while the history
	// from the start revision is still to come. Only a read moves from.
	d.mu.Lock()
	k := d.keys[resp.WatchId]
	if k == nil {
		d.mu.Unlock()
		return nil // cancelled meanwhile
	}
	fire := false
	for _, ev := range resp.Events {
		if ev.Type == mvccpb.DELETE && ev.Kv != nil {
			k.lastDel = max(k.lastDel, ev.Kv.ModRevision)
			// A deletion at or before from was of an earlier
			// ownership of the key (a release before the key was
			// created again).
			fire = fire || (k.gone != nil && ev.Kv.ModRevision > k.from)
		}
	}
	use, idle, key, from := k.use, k.gone == nil, k.key, k.from
	if resp.Canceled && idle {
		d.unidle(k)
		d.dropLocked(k)
	}
	d.mu.Unlock()
	if fire {
		d.fire(k, use)
		return nil
	}
	if !resp.Canceled || idle {
		return nil
	}
	// The server dropped the watcher (its start revision was compacted):
	// read the key, then watch it again from the read's revision.
	rctx, cancel := context.WithTimeout(ctx, max(d.c.timeout, time.Second))
	got, err := d.c.cli.Get(rctx, key, clientv3.WithKeysOnly())
	cancel()
	switch {
	case err == nil && got.Count == 0:
		d.fire(k, use)
	case err == nil:
		d.mu.Lock()
		k.from = max(from, got.Header.Revision)
		from = k.from
		live := d.keys[k.id] == k
		d.mu.Unlock()
		if live {
			d.send(st, createReq(k.id, key, from))
		}
	default:
		return fmt.Errorf("read %s after its watcher was cancelled: %w", key, err) // a new stream creates every watcher again
	}
	return nil
}

// close ends the watch (the conn is closing): no gone is called after.
func (d *deleteWatch) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys = map[int64]*watchedKey{}
	d.byKey = map[string]*watchedKey{}
	d.idle = nil
	if d.running {
		d.cancel()
		d.running, d.stream = false, nil
	}
}

// fire reports the deletion of k's key to its use-th user, once; the
// watcher becomes idle.
func (d *deleteWatch) fire(k *watchedKey, use int64) {
	d.mu.Lock()
	gone := k.gone
	if k.use != use || gone == nil || d.keys[k.id] != k {
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	gone()
	d.remove(k, use)
}
