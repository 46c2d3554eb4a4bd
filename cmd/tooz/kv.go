// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/toozgo/tooz"
)

var kvCommand = &command{
	name:    "kv",
	args:    "get KEY | put KEY VALUE | del KEY | ls [PREFIX] | watch [PREFIX]",
	summary: "read, write and follow the key/value namespace",
	details: `
The key/value namespace is what applications store with tooz's KV (work
lists, assignments, records), inside the URL's namespace:

  get KEY          print KEY's value (status 1 when it does not exist)
  put KEY VALUE    write VALUE ("-": read it from stdin); --if-revision N
                   writes only if KEY is at revision N (0: only if it does
                   not exist), else status 1 and nothing is changed
  del KEY          delete KEY (status 1 when it does not exist); takes
                   --if-revision N too
  ls [PREFIX]      list the keys that begin with PREFIX, with their
                   revisions (an ephemeral key, bound to its writer's
                   liveness, is marked *)
  watch [PREFIX]   print the keys that begin with PREFIX, then every put
                   and delete as it happens, pushed by the backend, until
                   interrupted

With --json, get, put and del print one object ({"key", "value" or
"value_base64" for bytes that are not UTF-8, "revision", "ephemeral"}),
ls an array of them, and watch one object per line with "event" (listed,
put, deleted) and "resync" on changes reported as a difference after the
backend lost track of them.`,
	example: `
tooz kv put config/workers '{"max": 8}'
tooz kv get config/workers
rev=$(tooz kv get config/workers --json | jq .revision)
tooz kv put config/workers '{"max": 9}' --if-revision "$rev" || echo "changed meanwhile"
tooz kv ls config/
tooz kv watch config/ --json`,
	run: runKV,
}

// kvRow is a key as --json shows it.
type kvRow struct {
	Event       string `json:"event,omitempty"`
	Time        string `json:"time,omitempty"`
	Key         string `json:"key"`
	Value       string `json:"value,omitempty"`
	ValueBase64 string `json:"value_base64,omitempty"`
	Revision    uint64 `json:"revision"`
	Ephemeral   bool   `json:"ephemeral"`
	Resync      bool   `json:"resync,omitempty"`
}

func rowOf(kv tooz.KeyValue) kvRow {
	r := kvRow{Key: kv.Key, Revision: kv.Revision, Ephemeral: kv.Ephemeral}
	if utf8.Valid(kv.Value) {
		r.Value = string(kv.Value)
	} else {
		r.ValueBase64 = base64.StdEncoding.EncodeToString(kv.Value)
	}
	return r
}

func runKV(a *app, me *command, args []string) error {
	pos, _, err := a.parseCommand(me, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError(me.name, "tooz kv: missing the action (get, put, del, ls or watch)")
	}
	want := map[string][]string{"get": {"KEY"}, "put": {"KEY", "VALUE"}, "del": {"KEY"}, "ls": {}, "watch": {}}
	names, ok := want[pos[0]]
	if !ok {
		return usageError(me.name, "tooz kv: unknown action %q (want get, put, del, ls or watch)", pos[0])
	}
	action, rest := pos[0], pos[1:]
	prefixed := action == "ls" || action == "watch"
	switch {
	case prefixed && len(rest) > 1:
		return usageError(me.name, "tooz kv %s: unexpected argument %q", action, rest[1])
	case !prefixed && len(rest) < len(names):
		return usageError(me.name, "tooz kv %s: missing the %s", action, names[len(rest)])
	case !prefixed && len(rest) > len(names):
		return usageError(me.name, "tooz kv %s: unexpected argument %q", action, rest[len(names)])
	}
	if a.ifRevision >= 0 && action != "put" && action != "del" {
		return usageError(me.name, "tooz kv %s: --if-revision applies to put and del only", action)
	}
	if prefixed {
		prefix := ""
		if len(rest) == 1 {
			prefix = rest[0]
		}
		if err := tooz.ValidatePrefix(prefix); err != nil {
			return usageError(me.name, "tooz kv %s: bad prefix: %v", action, err)
		}
		if action == "ls" {
			return kvList(a, prefix)
		}
		return kvWatch(a, prefix)
	}
	key := rest[0]
	if err := tooz.ValidateID(key); err != nil {
		return usageError(me.name, "tooz kv %s: bad key: %v", action, err)
	}
	var opts []tooz.WriteOption
	if a.ifRevision >= 0 {
		opts = append(opts, tooz.IfRevision(uint64(a.ifRevision)))
	}
	var value []byte
	if action == "put" {
		if value, err = a.readValue(rest[1]); err != nil {
			return err
		}
	}
	ctx, c, done, err := a.openRequest()
	if err != nil {
		return err
	}
	defer done()
	kv := c.KV()
	switch action {
	case "get":
		v, err := kv.Get(ctx, key)
		if errors.Is(err, tooz.ErrKeyNotFound) {
			return exitf(exitFailure, "tooz: key %q does not exist", key)
		}
		if err != nil {
			return a.requestError(err)
		}
		if a.json {
			a.emitJSON(a.stdout, rowOf(v))
			return nil
		}
		a.println(a.stdout, string(v.Value))
	case "put":
		rev, err := kv.Put(ctx, key, value, opts...)
		if errors.Is(err, tooz.ErrConflict) {
			return exitf(exitFailure, "tooz: key %q is not at revision %d: nothing written", key, a.ifRevision)
		}
		if err != nil {
			return a.requestError(err)
		}
		if a.json {
			r := rowOf(tooz.KeyValue{Key: key, Value: value, Revision: rev})
			a.emitJSON(a.stdout, r)
		}
	case "del":
		err := kv.Delete(ctx, key, opts...)
		switch {
		case errors.Is(err, tooz.ErrKeyNotFound):
			return exitf(exitFailure, "tooz: key %q does not exist", key)
		case errors.Is(err, tooz.ErrConflict):
			return exitf(exitFailure, "tooz: key %q is not at revision %d: not deleted", key, a.ifRevision)
		case err != nil:
			return a.requestError(err)
		}
		if a.json {
			a.emitJSON(a.stdout, map[string]any{"key": key, "deleted": true})
		}
	}
	return nil
}

// readValue returns the value argument, or stdin's content for "-".
func (a *app) readValue(arg string) ([]byte, error) {
	if arg != "-" {
		return []byte(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(a.stdin, tooz.MaxValueLength+1))
	if err != nil {
		return nil, exitf(exitFailure, "tooz kv put: reading stdin: %v", err)
	}
	if len(b) > tooz.MaxValueLength {
		return nil, usageError("kv", "tooz kv put: the value on stdin is longer than %d bytes", tooz.MaxValueLength)
	}
	return b, nil
}

func kvList(a *app, prefix string) error {
	ctx, c, done, err := a.openRequest()
	if err != nil {
		return err
	}
	defer done()
	kvs, err := c.KV().List(ctx, prefix)
	if err != nil {
		return a.requestError(err)
	}
	if a.json {
		rows := make([]kvRow, len(kvs))
		for i, kv := range kvs {
			rows[i] = rowOf(kv)
		}
		a.emitJSON(a.stdout, rows)
		return nil
	}
	if len(kvs) == 0 {
		a.println(a.stderr, fmt.Sprintf("tooz: no key begins with %q", prefix))
		return nil
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "KEY\tREVISION\tVALUE")
	for _, kv := range kvs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", displayID(kv.Key), revision(kv), displayCapabilities(kv.Value))
	}
	return tw.Flush()
}

// revision shows a key's revision, marked * when the key is ephemeral.
func revision(kv tooz.KeyValue) string {
	s := strconv.FormatUint(kv.Revision, 10)
	if kv.Ephemeral {
		s += "*"
	}
	return s
}

func kvWatch(a *app, prefix string) error {
	return follow(a, func(ctx context.Context, c *tooz.Coordinator, fn func(tooz.KeyEvent)) (*tooz.Watch, error) {
		return c.KV().Watch(ctx, prefix, fn)
	}, func(e tooz.KeyEvent) { a.printKeyEvent(prefix, e) })
}

func (a *app) printKeyEvent(prefix string, e tooz.KeyEvent) {
	now := time.Now()
	if a.json {
		if e.Kind == tooz.KeysListed {
			rows := make([]kvRow, len(e.Keys))
			for i, kv := range e.Keys {
				rows[i] = rowOf(kv)
			}
			a.emitJSON(a.stdout, map[string]any{"time": now.Format(time.RFC3339Nano), "event": "listed", "prefix": prefix, "keys": rows})
			return
		}
		r := rowOf(e.KeyValue)
		r.Event, r.Time, r.Resync = e.Kind.String(), now.Format(time.RFC3339Nano), e.Resync
		if e.Kind == tooz.KeyDeleted {
			r.Value, r.ValueBase64 = "", ""
		}
		a.emitJSON(a.stdout, r)
		return
	}
	stamp := now.Format("2006-01-02 15:04:05.000")
	switch e.Kind {
	case tooz.KeysListed:
		a.println(a.stderr, fmt.Sprintf("tooz: watching keys beginning with %q (%d now); Ctrl-C to stop", prefix, len(e.Keys)))
		for _, kv := range e.Keys {
			a.println(a.stdout, fmt.Sprintf("%s  %-7s  %s@%s  %s", stamp, "listed", displayID(kv.Key), revision(kv), displayCapabilities(kv.Value)))
		}
	case tooz.KeyPut:
		a.println(a.stdout, fmt.Sprintf("%s  %-7s  %s@%s  %s", stamp, "put", displayID(e.Key), revision(e.KeyValue), displayCapabilities(e.Value)))
	case tooz.KeyDeleted:
		a.println(a.stdout, fmt.Sprintf("%s  %-7s  %s", stamp, "deleted", displayID(e.Key)))
	}
}
