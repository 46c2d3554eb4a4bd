// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/drivers/kubernetes"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// testTimeout is the liveness timeout of the tests' coordinators.
const testTimeout = 2 * time.Second

// testURL is a URL for the test identity, with a tooz namespace of its own.
func testURL(k *testserver.Kube) string {
	return "k8s://?kubeconfig=" + url.QueryEscape(k.Kubeconfig) + "&namespace=" + testutil.Unique("ns")
}

// TestConformance runs the whole suite against a real kube-apiserver, as
// the test identity whose Role allows exactly what the package doc lists.
func TestConformance(t *testing.T) {
	k := testserver.StartKube(t)
	conformance.Run(t, harness{conformance.URLHarness{URL: testURL(k), LivenessTimeout: testTimeout}})
}

// harness adds conformance.HistoryBreaker to the URL harness.
type harness struct{ conformance.URLHarness }

// BreakHistory implements conformance.HistoryBreaker: c's watches are
// ended and held back while during changes keys, so they must list again.
func (harness) BreakHistory(ctx context.Context, t *testing.T, c *tooz.Coordinator, during func() error) error {
	if err := kubernetes.BreakWatches(c); err != nil {
		return err
	}
	defer kubernetes.ReleaseWatches(c)
	return during()
}

// TestRole: the identity bound to exactly the documented Role works (the
// whole conformance suite runs as it); an identity without it fails with
// tooz.ErrAuth at Open, and nothing is left behind.
func TestRole(t *testing.T) {
	k := testserver.StartKube(t)
	ctx := testutil.Context(t, time.Minute)
	u := "k8s://?kubeconfig=" + url.QueryEscape(k.NoRoleKubeconfig) + "&namespace=" + testutil.Unique("ns")
	c, err := tooz.Open(ctx, u, "m", tooz.WithTimeout(testTimeout))
	if !errors.Is(err, tooz.ErrAuth) {
		if c != nil {
			_ = c.Close(ctx)
		}
		t.Fatalf("open without the Role: %v, want an error wrapping ErrAuth", err)
	}
	// The documented Role is the one the test server grants.
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range testserver.KubeRoleRules {
		line := fmt.Sprintf("//	  resources: [%s]\n//	  verbs: [%s]", strings.Join(rule["resources"].([]string), ", "), strings.Join(rule["verbs"].([]string), ", "))
		if !strings.Contains(string(doc), line) {
			t.Errorf("doc.go does not document the rule the tests run with:\n%s", line)
		}
	}
	// And with the Role, a coordinator works.
	c = testutil.Open(t, 10*time.Second, testURL(k), "m", tooz.WithTimeout(testTimeout))
	if err := c.JoinGroupCreate(ctx, "g", nil); err != nil {
		t.Fatal(err)
	}
}

// TestBadURLs: what the URL cannot mean is refused with ErrInvalidURL
// before any I/O.
func TestBadURLs(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a pod
	for _, u := range []string{
		"k8s://127.0.0.1:6443?kubeconfig=/nonexistent", // an address is not a namespace
		"k8s://ns/path?kubeconfig=/nonexistent",
		"k8s://user:secret@ns?kubeconfig=/nonexistent",
		"k8s://a,b?kubeconfig=/nonexistent",
		"k8s://Not_A_Namespace?kubeconfig=" + url.QueryEscape(writeKubeconfig(t)),
		"k8s://?kubeconfig=",
		"k8s://?kubeconfig=/nonexistent",
		"k8s://?context=x",
		"k8s://", // outside a pod, without kubeconfig
		"k8s://?kubeconfig=" + url.QueryEscape(writeKubeconfig(t)) + "&qps=0",
		"k8s://?kubeconfig=" + url.QueryEscape(writeKubeconfig(t)) + "&timeout=500ms",
		"k8s://?kubeconfig=" + url.QueryEscape(writeKubeconfig(t)) + "&bogus=1",
	} {
		c, err := tooz.Open(ctx, u, "m")
		if !errors.Is(err, tooz.ErrInvalidURL) {
			if c != nil {
				_ = c.Close(ctx)
			}
			t.Errorf("Open(%q) = %v, want an error wrapping ErrInvalidURL", u, err)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): the error shows the password: %v", u, err)
		}
	}
}

// writeKubeconfig writes a kubeconfig of a server that is never reached.
func writeKubeconfig(t *testing.T) string {
	p := t.TempDir() + "/kubeconfig"
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
	if err := os.WriteFile(p, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
