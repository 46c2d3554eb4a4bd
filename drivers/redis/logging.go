// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// go-redis logs through one process-global logger (redis.SetLogger), not
// per client, and most of its lines (a failed dial in the connection pool)
// carry no context that tells which client they are about. So they cannot
// go to the right coordinator's slog.Logger. The least-bad route: importing
// this driver points go-redis's global logger at slog's global default
// logger (slog.Default) — process-wide to process-wide — instead of
// go-redis's own plain-text lines on stderr. The lines are logged at Info
// (the driver reports the failures that matter itself, as errors or at
// Warn), with "library=go-redis" and any password in a URL masked. A
// program that wants them elsewhere sets slog.SetDefault, or calls
// redis.SetLogger itself after importing this package; the tooz command
// sets slog.SetDefault to its own logger, so that --json prints only JSON.
func init() { goredis.SetLogger(slogLogging{}) }

// slogLogging implements go-redis's logging interface over slog.Default.
type slogLogging struct{}

// urlPassword matches the password of a URL's userinfo.
var urlPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)

func (slogLogging) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	l := slog.Default()
	if !l.Enabled(ctx, slog.LevelInfo) {
		return
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	msg = urlPassword.ReplaceAllString(msg, "${1}xxxxx@")
	l.LogAttrs(ctx, slog.LevelInfo, msg, slog.String("library", "go-redis"))
}
