// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

// The key/value namespace is the directory DIR/NS/kv: a file per key
// (named as member files are), written aside and renamed into place under
// the directory's exclusive flock, and ".rev", the counter of changes,
// which gives every write and delete its revision. Reads take the flock
// shared. An ephemeral key's file names its writer's session: once that
// session is dead (closed, expired, its process gone) every reader takes
// the key as deleted, and whoever next holds the flock exclusively
// removes the file.

var _ tooz.KVStore = (*conn)(nil)

const (
	dirKV   = "kv"
	revFile = ".rev"
	// kvMagic starts every key file: "tooz-kv1 REV SID|- KEYLEN\n" KEY VALUE.
	kvMagic = "tooz-kv1 "
)

func (c *conn) kvDir() string { return filepath.Join(c.ns, dirKV) }

func encodeKV(key string, rev uint64, sid string, value []byte) []byte {
	if sid == "" {
		sid = "-"
	}
	b := make([]byte, 0, len(kvMagic)+48+len(key)+len(value))
	b = append(b, kvMagic...)
	b = strconv.AppendUint(b, rev, 10)
	b = append(b, ' ')
	b = append(b, sid...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(key)), 10)
	b = append(b, '\n')
	b = append(b, key...)
	return append(b, value...)
}

// kvFile is a decoded key file; sid is "" for a durable key.
type kvFile struct {
	kv  tooz.KeyValue
	sid string
}

func decodeKV(b []byte) (kvFile, error) {
	head, rest, ok := bytes.Cut(b, []byte{'\n'})
	if !ok || !bytes.HasPrefix(head, []byte(kvMagic)) {
		return kvFile{}, errors.New("not a key file")
	}
	f := strings.Fields(string(head[len(kvMagic):]))
	if len(f) != 3 {
		return kvFile{}, errors.New("malformed key file header")
	}
	rev, err1 := strconv.ParseUint(f[0], 10, 64)
	n, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil || n < 0 || n > len(rest) {
		return kvFile{}, errors.New("malformed key file header")
	}
	key := string(rest[:n])
	if tooz.ValidateID(key) != nil {
		return kvFile{}, errors.New("the key file holds no valid key")
	}
	sid := f[1]
	if sid == "-" {
		sid = ""
	} else if _, ok := sidTimeout(sid); !ok {
		return kvFile{}, errors.New("the key file names no session")
	}
	return kvFile{kv: tooz.KeyValue{Key: key, Value: rest[n:], Revision: rev, Ephemeral: sid != ""}, sid: sid}, nil
}

// lockKV flocks the key directory (shared to read, exclusive to change it).
func (c *conn) lockKV(ctx context.Context, how int) (*lockedDir, error) {
	d, err := lockDir(ctx, c.kvDir(), how)
	if notExist(err) { // removed from under us: make it again
		if err := os.MkdirAll(c.kvDir(), 0o777); err != nil {
			return nil, ioErr("create the key directory", err)
		}
		d, err = lockDir(ctx, c.kvDir(), how)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, ioErr("open the key directory", err)
	}
	return d, nil
}

// readKV reads the key file name in the locked directory d. A missing or
// foreign file is absent; deadline is the writer's session deadline for a
// live ephemeral key.
func (c *conn) readKV(d *lockedDir, name string) (f kvFile, state memberState, deadline time.Time, err error) {
	b, err := readAt(d.fd, name, 0)
	if notExist(err) {
		return kvFile{}, absent, time.Time{}, nil
	}
	if errors.Is(err, unix.EISDIR) {
		err = errors.New("a directory") // foreign: decoded below as nothing
	} else if err != nil {
		return kvFile{}, absent, time.Time{}, ioErr("read a key", err)
	}
	if err == nil {
		f, err = decodeKV(b)
	}
	if err != nil {
		c.log.Warn("tooz file: ignoring a file that tooz did not write in the key directory", "file", filepath.Join(d.path, name), "err", err)
		return kvFile{}, absent, time.Time{}, nil
	}
	if f.sid == "" {
		return f, alive, time.Time{}, nil
	}
	dl, ok, err := c.session(f.sid)
	switch {
	case err != nil:
		return kvFile{}, absent, time.Time{}, err
	case !ok:
		return f, dead, time.Time{}, nil
	}
	return f, alive, dl, nil
}

// readKey reads key's file: its state is absent when the file holds another key.
func (c *conn) readKey(d *lockedDir, key string) (kvFile, memberState, error) {
	f, st, _, err := c.readKV(d, entryName(key))
	if err == nil && st != absent && f.kv.Key != key {
		st = absent
	}
	return f, st, err
}

// GetKey implements tooz.KVStore.
func (c *conn) GetKey(ctx context.Context, key string) (tooz.KeyValue, error) {
	if err := c.usable(ctx); err != nil {
		return tooz.KeyValue{}, err
	}
	d, err := c.lockKV(ctx, unix.LOCK_SH)
	if err != nil {
		return tooz.KeyValue{}, err
	}
	defer d.close()
	f, st, err := c.readKey(d, key)
	switch {
	case err != nil:
		return tooz.KeyValue{}, err
	case st != alive:
		return tooz.KeyValue{}, tooz.ErrKeyNotFound
	}
	return f.kv, nil
}

// listedKey is a live key of a listing, with its writer's session deadline.
type listedKey struct {
	kv       tooz.KeyValue
	deadline time.Time // zero for a durable key
}

// listKV lists the live keys under prefix and the revision of the last
// change, under the shared flock; the files of dead ephemeral keys are
// removed afterwards if the exclusive flock can be had at once.
func (c *conn) listKV(ctx context.Context, prefix string) ([]listedKey, uint64, error) {
	d, err := c.lockKV(ctx, unix.LOCK_SH)
	if err != nil {
		return nil, 0, err
	}
	names, err := readDirNames(d.path)
	if err != nil {
		d.close()
		return nil, 0, ioErr("list the keys", err)
	}
	var out []listedKey
	var stale []string
	for _, n := range names {
		if strings.HasPrefix(n, ".") {
			continue
		}
		f, st, dl, err := c.readKV(d, n)
		if err != nil {
			d.close()
			return nil, 0, err
		}
		switch {
		case st == dead:
			stale = append(stale, n)
		case st == alive && strings.HasPrefix(f.kv.Key, prefix):
			out = append(out, listedKey{kv: f.kv, deadline: dl})
		}
	}
	rev, err := readRev(d)
	d.close()
	if err != nil {
		return nil, 0, err
	}
	c.removeDeadKeys(stale)
	return out, rev, nil
}

// removeDeadKeys removes the files of dead ephemeral keys, if the
// exclusive flock can be had at once; otherwise whoever reads next does it.
func (c *conn) removeDeadKeys(names []string) {
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	d, err := c.lockKV(ctx, unix.LOCK_EX)
	if err != nil {
		return
	}
	defer d.close()
	for _, n := range names {
		if _, st, _, err := c.readKV(d, n); err == nil && st == dead {
			_ = unix.Unlinkat(d.fd, n, 0)
		}
	}
}

// ListKeys implements tooz.KVStore.
func (c *conn) ListKeys(ctx context.Context, prefix string) ([]tooz.KeyValue, error) {
	if err := c.usable(ctx); err != nil {
		return nil, err
	}
	ls, _, err := c.listKV(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]tooz.KeyValue, len(ls))
	for i, l := range ls {
		out[i] = l.kv
	}
	return out, nil
}

// readRev reads the change counter of the locked key directory.
func readRev(d *lockedDir) (uint64, error) {
	b, err := readAt(d.fd, revFile, 0)
	if notExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, ioErr("read the key revision", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, nil // damaged: revisions go on from the keys' own
	}
	return n, nil
}

// nextRev counts one change in the exclusively locked directory d and
// returns its revision: above the counter and above cur, the key's last
// revision (so a damaged or lost counter never makes one repeat).
func (c *conn) nextRev(d *lockedDir, cur uint64) (uint64, error) {
	last, err := readRev(d)
	if err != nil {
		return 0, err
	}
	rev := max(last, cur) + 1
	tmp, err := c.writeTmp(strconv.AppendUint(nil, rev, 10))
	if err != nil {
		return 0, err
	}
	if err := unix.Renameat(unix.AT_FDCWD, tmp, d.fd, revFile); err != nil {
		_ = os.Remove(tmp)
		return 0, ioErr("write the key revision", err)
	}
	return rev, nil
}

// check applies a write's condition to the key's current state.
func checkKey(f kvFile, st memberState, w tooz.KeyWrite) error {
	if !w.Check {
		return nil
	}
	if st == alive && f.kv.Revision == w.Revision || st != alive && w.Revision == 0 {
		return nil
	}
	return tooz.ErrConflict
}

// PutKey implements tooz.KVStore.
func (c *conn) PutKey(ctx context.Context, key string, value []byte, w tooz.KeyWrite) (uint64, error) {
	sid := ""
	if w.Ephemeral {
		var err error
		if sid, err = c.liveSession(ctx); err != nil {
			return 0, err
		}
	} else if err := c.usable(ctx); err != nil {
		return 0, err
	}
	d, err := c.lockKV(ctx, unix.LOCK_EX)
	if err != nil {
		return 0, err
	}
	defer d.close()
	f, st, err := c.readKey(d, key)
	if err != nil {
		return 0, err
	}
	if err := checkKey(f, st, w); err != nil {
		return 0, err
	}
	rev, err := c.nextRev(d, f.kv.Revision)
	if err != nil {
		return 0, err
	}
	tmp, err := c.writeTmp(encodeKV(key, rev, sid, value))
	if err != nil {
		return 0, err
	}
	if err := unix.Renameat(unix.AT_FDCWD, tmp, d.fd, entryName(key)); err != nil {
		_ = os.Remove(tmp)
		return 0, ioErr("write a key", err)
	}
	return rev, c.syncDir(d)
}

// DeleteKey implements tooz.KVStore: the file goes and the counter counts
// the delete.
func (c *conn) DeleteKey(ctx context.Context, key string, w tooz.KeyWrite) error {
	if err := c.usable(ctx); err != nil {
		return err
	}
	d, err := c.lockKV(ctx, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer d.close()
	f, st, err := c.readKey(d, key)
	if err != nil {
		return err
	}
	if err := checkKey(f, st, w); err != nil {
		return err
	}
	if st != alive {
		return tooz.ErrKeyNotFound
	}
	if _, err := c.nextRev(d, f.kv.Revision); err != nil {
		return err
	}
	if err := unix.Unlinkat(d.fd, entryName(key), 0); err != nil {
		return ioErr("delete a key", err)
	}
	return c.syncDir(d)
}

// WatchKeys implements tooz.KVStore: inotify on the key directory (every
// key written or deleted) and on the sessions directory (an ephemeral
// key's writer closed), and a timer at the earliest session deadline of
// an ephemeral key (its writer crashed). Each wake lists the keys and
// reports the difference from the listing before, so an overflowing
// inotify queue loses nothing.
func (c *conn) WatchKeys(ctx context.Context, prefix string, sink tooz.KeySink) (func(), error) {
	if err := c.usable(ctx); err != nil {
		return nil, err
	}
	w := &kvWatch{c: c, prefix: prefix, sink: sink, done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	if c.poll > 0 {
		w.poll = c.poll
	} else {
		w.sub = c.notif.subscribe(w.filter, c.kvDir(), c.sessDir)
		if w.sub.polling {
			w.poll = fallbackPoll
		}
	}
	ls, rev, err := c.listKV(ctx, prefix)
	if err != nil {
		w.halt()
		return nil, err
	}
	w.known = make(map[string]listedKey, len(ls))
	kvs := make([]tooz.KeyValue, len(ls))
	for i, l := range ls {
		w.known[l.kv.Key] = l
		kvs[i] = l.kv
	}
	sink.Snapshot(kvs, rev)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		w.halt()
		return nil, tooz.ErrClosed
	}
	c.watches[w] = struct{}{}
	c.mu.Unlock()
	w.started = true
	go w.run()
	return func() {
		w.halt()
		c.mu.Lock()
		delete(c.watches, w)
		c.mu.Unlock()
	}, nil
}

// kvWatch is one WatchKeys.
type kvWatch struct {
	c       *conn
	prefix  string
	sink    tooz.KeySink
	sub     *sub
	poll    time.Duration
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	started bool // run was started (set before, never changed after)
	known   map[string]listedKey
}

func (w *kvWatch) filter(dir, name string, op fsnotify.Op) bool {
	switch dir {
	case w.c.sessDir:
		return op&(fsnotify.Remove|fsnotify.Rename) != 0
	case w.c.kvDir():
		return !strings.HasPrefix(name, ".")
	}
	return false
}

// halt stops the watch and waits for its goroutine: the sink is not called after.
func (w *kvWatch) halt() {
	w.once.Do(func() {
		w.cancel()
		if w.started {
			<-w.done
		}
		if w.sub != nil {
			w.sub.close()
		}
	})
}

func (w *kvWatch) run() {
	defer close(w.done)
	runWatch(w.ctx, w.sub, w.poll, w.firstDeadline, func(why wake) {
		if why == wokeEvents {
			w.sub.take() // which events does not matter: the listing says what changed
		}
		if h := w.c.testHoldWatches.Load(); h != nil {
			select { // a test holds the watch back: what happens meanwhile is seen only as a difference
			case <-*h:
			case <-w.ctx.Done():
				return
			}
		}
		if err := w.relist(); err != nil && w.ctx.Err() == nil {
			w.c.log.Warn("tooz file: listing watched keys failed; retrying", "prefix", w.prefix, "err", err)
			driverkit.Sleep(w.ctx, fallbackPoll)
			if w.sub != nil {
				w.sub.signal()
			}
		}
	})
}

// firstDeadline is the earliest session deadline of a known ephemeral key.
func (w *kvWatch) firstDeadline() time.Time {
	var first time.Time
	for _, l := range w.known {
		if !l.deadline.IsZero() && (first.IsZero() || l.deadline.Before(first)) {
			first = l.deadline
		}
	}
	return first
}

// relist lists the keys and reports the difference: deletes by key, then
// writes in revision order.
func (w *kvWatch) relist() error {
	ctx, cancel := context.WithTimeout(w.ctx, max(w.c.timeout, time.Second))
	defer cancel()
	ls, rev, err := w.c.listKV(ctx, w.prefix)
	if err != nil {
		return err
	}
	cur := make(map[string]listedKey, len(ls))
	for _, l := range ls {
		cur[l.kv.Key] = l
	}
	for _, k := range slices.Sorted(maps.Keys(w.known)) {
		if _, ok := cur[k]; !ok {
			w.sink.Deleted(k, rev)
		}
	}
	var changed []tooz.KeyValue
	for _, l := range ls {
		if o, ok := w.known[l.kv.Key]; !ok || o.kv.Revision != l.kv.Revision {
			changed = append(changed, l.kv)
		}
	}
	slices.SortFunc(changed, func(a, b tooz.KeyValue) int { return cmp.Compare(a.Revision, b.Revision) })
	for _, kv := range changed {
		w.sink.Put(kv)
	}
	w.known = cur
	return nil
}
