// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tlsfiles

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testutil"
)

func TestLoad(t *testing.T) {
	p := testutil.NewPKI(t)
	c, err := Load(p.CA, p.ClientCert, p.ClientKey)
	if err != nil || c.RootCAs == nil || len(c.Certificates) != 1 {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][3]string{
		"cert without key": {"", p.ClientCert, ""},
		"missing ca":       {missing, "", ""},
		"ca not PEM":       {notPEM, "", ""},
		"key of no cert":   {"", p.ClientCert, p.CA},
	} {
		if _, err := Load(args[0], args[1], args[2]); !errors.Is(err, tooz.ErrInvalidURL) {
			t.Errorf("%s: %v, want ErrInvalidURL", name, err)
		}
	}
}
