// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/toozgo/tooz/internal/testutil"
	"go.uber.org/zap"
)

// TestZapLogger checks that the etcd client's zap lines reach the
// coordinator's slog.Logger one level lower, with secrets masked.
func TestZapLogger(t *testing.T) {
	var buf testutil.LogBuffer
	const secret = "hunter2-zap"
	z := zapLogger(buf.Logger(), secret).With(zap.String("endpoint", "127.0.0.1:2379"))
	z.Info("dialing", zap.String("target", "alice:"+secret+"@h"))
	z.Warn("retrying of unary invoker failed", zap.Error(errors.New("bad password "+secret)), zap.String("password", "pw-field-1"), zap.String("auth-token", "tok-field-1"))
	z.Error("lease keepalive failed")
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg=dialing library="etcd client" endpoint=127.0.0.1:2379 target=alice:xxxxx@h`,
		`level=INFO msg="retrying of unary invoker failed" library="etcd client" endpoint=127.0.0.1:2379 auth-token=xxxxx error="bad password xxxxx" password=xxxxx`,
		`level=WARN msg="lease keepalive failed"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	testutil.CheckNoSecret(t, strings.Split(out, "\n"), secret, "pw-field-1", "tok-field-1")

	// Levels the logger does not want are not even formatted.
	var quiet testutil.LogBuffer
	warnOnly := slog.New(slog.NewTextHandler(&quiet, &slog.HandlerOptions{Level: slog.LevelWarn}))
	zq := zapLogger(warnOnly, "")
	if ce := zq.Check(zap.WarnLevel, "x"); ce != nil {
		t.Error("a zap warning passed a logger that wants slog warnings and up (it maps to info)")
	}
	zq.Error("shown")
	if !strings.Contains(quiet.String(), "msg=shown") {
		t.Errorf("a zap error did not reach a warn-level logger: %q", quiet.String())
	}
}
