// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
)

// WatchLeader needs OwnerWatcher, and the Coordinator follows an
// ownership without a goroutine only through LostNotifier: keep the method
// sets from drifting.
var (
	_ tooz.OwnerWatcher = (*conn)(nil)
	_ tooz.LostNotifier = (*ownership)(nil)
)

// WatchOwner implements tooz.OwnerWatcher with inotify on the lock file
// (a new owner writes it, a release touches it; elsewhere than Linux the
// owner file is renamed into place) and, since a holder that dies tells
// nobody, a watch of the recorded holder's process (pidfd). With the poll
// option, or where inotify is not available, it polls instead.
func (c *conn) WatchOwner(ctx context.Context, res tooz.Resource, changed func(tooz.OwnerChange)) (func(), error) {
	if err := c.usable(ctx); err != nil {
		return nil, err
	}
	dir := c.resDir(res.Kind)
	name := entryName(res.Name)
	path := filepath.Join(dir, name)
	var sub *sub
	if c.poll == 0 {
		sub = c.notif.subscribe(func(_, n string, op fsnotify.Op) bool {
			return (n == name || n == name+ownerSuffix) && op&(fsnotify.Write|fsnotify.Chmod|fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0
		}, dir)
		sub.ensure(dir)
	}
	poll := c.poll
	if sub == nil || sub.polling {
		poll = max(poll, fallbackPoll)
	}
	// Events are compared with the files' state: an event dispatched
	// late, for a change made before the watch began (this coordinator's
	// own release, say), or a poll tick, is no change.
	last := fileState(path)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if sub != nil {
			defer sub.close()
		}
		var (
			holder *exitWatch
			tick   <-chan time.Time
			events <-chan struct{}
		)
		defer func() {
			if holder != nil {
				holder.stop()
			}
		}()
		if poll > 0 {
			t := time.NewTicker(poll)
			defer t.Stop()
			tick = t.C
		}
		if sub != nil {
			events = sub.ch
		}
		for {
			holder = watchOwnerProcess(path, holder)
			var died <-chan struct{}
			if holder != nil {
				died = holder.exited
			}
			select {
			case <-stop:
				return
			case <-c.done:
				return
			case <-events:
				sub.take()
			case <-died:
				holder.stop()
				holder = nil
				changed(tooz.OwnerChange{})
				continue
			case <-tick:
			}
			if now := fileState(path); now != last {
				// A change, and one more per grant since the last look
				// (the token counts them): a release and another's grant
				// and release read at once are three changes, not one.
				grants := 0
				if now.token > last.token && last.token > 0 {
					grants = int(min(now.token-last.token, 2))
				}
				last = now
				for range 1 + grants {
					changed(tooz.OwnerChange{})
				}
			}
		}
	}()
	// Stop ends the watch and waits for its goroutine; it may be called again.
	return sync.OnceFunc(func() { close(stop); <-done }), nil
}

// watchOwnerProcess follows the process recorded in the lock file at path
// (w: the watch so far, kept while it is the same process).
func watchOwnerProcess(path string, w *exitWatch) *exitWatch {
	fd, err := openAt(unix.AT_FDCWD, path, unix.O_RDONLY)
	if err != nil {
		if w != nil {
			w.stop()
		}
		return nil
	}
	defer unix.Close(fd)
	return watchHolder(fd, w, 0)
}

// state is what identifies a version of a lock file and its owner file:
// a new owner rewrites the first (or renames the second into place), a
// release touches the first.
type state struct {
	ino, ownerIno   uint64
	mtime, ownerMod int64
	ctime           int64
	token           uint64 // the last grant's, from the lock file's record
}

func fileState(path string) state {
	var st state
	var s unix.Stat_t
	if unix.Stat(path, &s) == nil {
		st.ino, st.mtime, st.ctime = s.Ino, s.Mtim.Nano(), s.Ctim.Nano()
	}
	if fd, err := openAt(unix.AT_FDCWD, path, unix.O_RDONLY); err == nil {
		if b, err := readFD(fd, len(lockMagic)+8); err == nil && len(b) == len(lockMagic)+8 && string(b[:len(lockMagic)]) == lockMagic {
			st.token = binary.BigEndian.Uint64(b[len(lockMagic):])
		}
		_ = unix.Close(fd)
	}
	if unix.Stat(path+ownerSuffix, &s) == nil {
		st.ownerIno, st.ownerMod = s.Ino, s.Mtim.Nano()
	}
	return st
}
