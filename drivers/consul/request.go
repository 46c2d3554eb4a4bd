// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/toozgo/tooz"
)

// Requests: read and write options, transactions, and turning Consul's
// errors into tooz errors without leaking the token.

// strong returns query options for a consistent read.
func (d *conn) strong(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx)
}

// q returns query options in the configured read mode.
func (d *conn) q(ctx context.Context) *api.QueryOptions {
	o := &api.QueryOptions{
		RequireConsistent: d.consistency == modeConsistent,
		AllowStale:        d.consistency == modeStale,
	}
	return o.WithContext(ctx)
}

// w returns write options bound to ctx.
func (d *conn) w(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{}).WithContext(ctx)
}

// txn runs ops. For read-only transactions q decides the read mode.
func (d *conn) txn(ctx context.Context, ops api.TxnOps, q *api.QueryOptions) (bool, *api.TxnResponse, error) {
	if q == nil {
		q = (&api.QueryOptions{}).WithContext(ctx)
	}
	ok, resp, _, err := d.client.Txn().Txn(ops, q)
	if err == nil && resp == nil {
		err = errors.New("empty transaction response")
	}
	return ok, resp, err
}

// txnFailure describes why a transaction was rolled back: the index of the
// first failing operation and the servers' reason.
func txnFailure(resp *api.TxnResponse) (int, string) {
	if resp == nil || len(resp.Errors) == 0 {
		return -1, "transaction rolled back"
	}
	e := resp.Errors[0]
	for _, x := range resp.Errors[1:] {
		if x.OpIndex < e.OpIndex {
			e = x
		}
	}
	return e.OpIndex, e.What
}

// isAuthText reports a Consul ACL refusal.
func isAuthText(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "permission denied") || strings.Contains(s, "acl not found") ||
		strings.Contains(s, "token not found")
}

// isLockDelay reports a transaction refused because of a lock-delay.
func isLockDelay(s string) bool { return strings.Contains(s, "lock delay") }

// isInvalidSession reports a transaction refused because its session is gone.
func isInvalidSession(s string) bool { return strings.Contains(s, "invalid session") }

// wrap translates a client error into the tooz sentinels, without the token.
func (d *conn) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("consul %s: %w", op, cerr)
	}
	msg := d.scrub(err.Error())
	var se api.StatusError
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden),
		isAuthText(msg):
		return fmt.Errorf("consul %s: %w: %s", op, tooz.ErrAuth, msg)
	case errors.As(err, &se) && (se.Code >= 500 || se.Code == http.StatusTooManyRequests),
		errors.As(err, &ne), errors.As(err, &ue),
		strings.Contains(msg, "No cluster leader"), strings.Contains(msg, "rpc error"):
		return fmt.Errorf("consul %s: %w: %s", op, tooz.ErrConnection, msg)
	}
	return fmt.Errorf("consul %s: %s", op, msg)
}

// scrub removes the token from msg.
func (d *conn) scrub(msg string) string { return scrub(msg, d.token) }

func scrub(msg, token string) string {
	if token == "" {
		return msg
	}
	return strings.ReplaceAll(msg, token, "xxxxx")
}
