//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
)

// WatchOwner implements tooz.OwnerWatcher with inotify on the lock file
// (a new owner writes it, a release touches it; elsewhere than Linux the
// owner file is renamed into place) and, since a holder that dies tells
// nobody, a watch of the recorded holder's process (pidfd). With the poll
// option, or where inotify is not available, it polls instead.
func (c *conn) WatchOwner(ctx context.Context, res tooz.Resource, changed func()) (func(), error) {
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
			case <-tick:
			}
			changed()
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
		})
	}, nil
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
