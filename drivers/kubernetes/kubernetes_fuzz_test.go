// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/toozgo/tooz/internal/testutil"
)

// FuzzRestConfig feeds the driver's URL resolution arbitrary URLs, with a
// kubeconfig that exists and one that does not: it never panics, rejects
// with ErrInvalidURL without showing the password, and accepts only a
// namespace that is a DNS label.
func FuzzRestConfig(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "kubeconfig")
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u, namespace: from-file}\ncurrent-context: x\n"
	if err := os.WriteFile(good, []byte(kc), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Add(true, "team-a", "", "", "", "context=x&qps=50")
	f.Add(true, "", "", "", "", "")
	f.Add(false, "ns", "/p", "user", "s3cr3t-pw", "qps=-1")
	f.Add(true, "Bad_NS", "", "", "", "context=nope")
	f.Add(true, "a:1", "", "", "", "qps=x")
	f.Fuzz(func(t *testing.T, exists bool, hosts, path, user, pass, query string) {
		t.Setenv("KUBERNETES_SERVICE_HOST", "") // never in a pod here
		path0 := good
		if !exists {
			path0 = filepath.Join(dir, "missing")
		}
		cfg, ok := testutil.FuzzConfig("k8s", hosts, path, user, pass, query, 0, []string{"context", "qps"})
		if !ok {
			return
		}
		cfg.Options["kubeconfig"] = path0
		rc, kns, err := restConfig(cfg)
		if err != nil {
			testutil.CheckParseError(t, err, pass, hosts, path, user, query)
			return
		}
		if rc == nil || kns == "" || len(kns) > 63 {
			t.Fatalf("accepted with namespace %q, config %v", kns, rc != nil)
		}
	})
}
