// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// The etcd client logs through zap. zapLogger hands those lines to the
// coordinator's slog.Logger, one level lower than zap's (the client's
// warnings are mostly retries this driver reports itself when they
// matter): zap debug and info become slog debug, warn becomes info, error
// becomes warn, and anything worse becomes error. Fields whose key names a
// secret, and any occurrence of the URL's password, are masked.

// zapLogger returns a zap logger writing to log, masking secret.
func zapLogger(log *slog.Logger, secret string) *zap.Logger {
	return zap.New(&slogCore{log: log, secret: secret})
}

// slogCore is a zapcore.Core that writes to a slog.Logger.
type slogCore struct {
	log    *slog.Logger
	secret string
	attrs  []slog.Attr
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.InfoLevel:
		return slog.LevelDebug
	case l == zapcore.WarnLevel:
		return slog.LevelInfo
	case l == zapcore.ErrorLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.log.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, secret: c.secret, attrs: append(append([]slog.Attr(nil), c.attrs...), c.convert(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	attrs := append(append([]slog.Attr{slog.String("library", "etcd client")}, c.attrs...), c.convert(fields)...)
	c.log.LogAttrs(context.Background(), slogLevel(e.Level), c.mask(e.Message), attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// convert turns zap fields into slog attributes, masking secrets.
func (c *slogCore) convert(fields []zapcore.Field) []slog.Attr {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		v := enc.Fields[k]
		if secretKey(k) {
			attrs = append(attrs, slog.String(k, "xxxxx"))
			continue
		}
		if s, ok := v.(string); ok {
			v = c.mask(s)
		}
		attrs = append(attrs, slog.Any(k, v))
	}
	return attrs
}

// mask replaces the password in s.
func (c *slogCore) mask(s string) string {
	if c.secret == "" {
		return s
	}
	return strings.ReplaceAll(s, c.secret, "xxxxx")
}

// secretKey reports whether a field's key names a secret.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "password") || strings.Contains(k, "token") || strings.Contains(k, "secret")
}
