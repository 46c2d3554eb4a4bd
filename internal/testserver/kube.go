// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/toozgo/tooz/internal/driverkit"
)

// KubeVersion is the version of k8s.io/kubernetes in tools/kube-apiserver.
const KubeVersion = "1.37.2"

// KubeRoleRules are the rules of the Role the test identity is bound to in
// its namespace: exactly what drivers/kubernetes documents as its minimal
// Role.
var KubeRoleRules = []map[string]any{{
	"apiGroups": []string{"coordination.k8s.io"},
	"resources": []string{"leases"},
	"verbs":     []string{"get", "list", "watch", "create", "update", "delete", "deletecollection"},
}, {
	"apiGroups": []string{""},
	"resources": []string{"configmaps"},
	"verbs":     []string{"get", "list", "watch", "create", "update", "delete", "deletecollection"},
}}

// Kube is a running kube-apiserver with the etcd it stores its data in,
// and three identities (bearer tokens, each with a kubeconfig file):
//
//   - Kubeconfig: the user "tooz-test", bound by a RoleBinding to a Role
//     with KubeRoleRules in Namespace, and nothing else: the identity the
//     driver's tests use;
//   - NoRoleKubeconfig: the user "tooz-norole", authenticated but bound to
//     nothing, for tests of a missing Role;
//   - AdminKubeconfig: a member of system:masters, for setting up and for
//     tests that act out of band.
//
// Each kubeconfig's current context names Namespace and trusts the API
// server's self-signed serving certificate. Kill, Stop and Restart apply
// to the API server only; its data lives in Etcd, which goes on running.
type Kube struct {
	*Server
	// Etcd is the API server's storage.
	Etcd *Server
	// Namespace is the Kubernetes namespace the test identity may use.
	Namespace string
	// Kubeconfig, NoRoleKubeconfig and AdminKubeconfig are kubeconfig files.
	Kubeconfig, NoRoleKubeconfig, AdminKubeconfig string
	// Token is the test identity's bearer token (the one in Kubeconfig).
	Token string

	adminToken string
}

// StartKube starts an etcd (WithNoFsync) and a kube-apiserver (KubeVersion,
// built by scripts/install-servers.sh from tools/kube-apiserver) on it,
// with token authentication and RBAC authorization, waits until /readyz
// says it is ready, and creates a namespace of its own with the Role and
// RoleBinding of the test identity (see Kube).
func StartKube(t testing.TB, opts ...Option) *Kube {
	t.Helper()
	bin := findBinary(t, "TOOZ_KUBE_APISERVER", "kube-apiserver "+KubeVersion,
		filepath.Join(BinDir(), "kube-apiserver-"+KubeVersion))
	etcdOpts := []Option{WithNoFsync()}
	if h := newConfig(opts).host; h != nil {
		etcdOpts = append(etcdOpts, InHost(h)) // the API server must reach it
	}
	etcd := StartEtcd(t, etcdOpts...)
	k := &Kube{Etcd: etcd, Namespace: "tooz-" + driverkit.NewID()[:8], adminToken: driverkit.NewID()}
	userToken, noRoleToken := driverkit.NewID(), driverkit.NewID()
	k.Token = userToken
	k.Server = start(t, &backend{
		name:   "kube-apiserver",
		nports: 1,
		command: func(s *Server) (string, []string, error) {
			tokens := filepath.Join(s.workDir, "tokens.csv")
			csv := fmt.Sprintf("%s,tooz-admin,uid-admin,\"system:masters\"\n%s,tooz-test,uid-test\n%s,tooz-norole,uid-norole\n",
				k.adminToken, userToken, noRoleToken)
			if err := os.WriteFile(tokens, []byte(csv), 0o600); err != nil {
				return "", nil, err
			}
			saKey := filepath.Join(s.workDir, "sa.key")
			if _, err := os.Stat(saKey); err != nil {
				if err := writeRSAKey(saKey); err != nil {
					return "", nil, err
				}
			}
			args := []string{
				"--etcd-servers", "http://" + etcd.Addr,
				"--bind-address", s.ip(),
				"--advertise-address", s.ip(),
				"--secure-port", strconv.Itoa(s.ports[0]),
				"--cert-dir", filepath.Join(s.workDir, "certs"),
				"--token-auth-file", tokens,
				"--anonymous-auth=false",
				"--authorization-mode", "RBAC",
				"--service-account-issuer", "https://kubernetes.default.svc",
				"--service-account-key-file", saKey,
				"--service-account-signing-key-file", saKey,
				"--service-cluster-ip-range", "10.96.0.0/16",
				"--disable-admission-plugins", "ServiceAccount",
				"--endpoint-reconciler-type", "none",
				"--enable-priority-and-fairness=false",
				"--profiling=false",
			}
			return bin, append(args, s.cfg.extra...), nil
		},
		probe: func(ctx context.Context, s *Server) error {
			body, err := k.request(ctx, s.Addr, http.MethodGet, "/readyz", nil)
			if err != nil {
				return err
			}
			if string(body) != "ok" {
				return fmt.Errorf("/readyz: %q", body)
			}
			return nil
		},
	}, opts)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	steps := []struct{ path, body string }{
		{"/api/v1/namespaces", fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, k.Namespace)},
		{"/apis/rbac.authorization.k8s.io/v1/namespaces/" + k.Namespace + "/roles", mustJSON(map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
			"metadata": map[string]any{"name": "tooz"},
			"rules":    KubeRoleRules,
		})},
		{"/apis/rbac.authorization.k8s.io/v1/namespaces/" + k.Namespace + "/rolebindings", mustJSON(map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
			"metadata": map[string]any{"name": "tooz"},
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tooz"},
			"subjects": []map[string]any{{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "tooz-test"}},
		})},
	}
	for _, st := range steps {
		if _, err := k.request(ctx, k.Addr, http.MethodPost, st.path, []byte(st.body)); err != nil {
			t.Fatalf("testserver: kube-apiserver set-up: POST %s: %v", st.path, err)
		}
	}
	ca, err := os.ReadFile(filepath.Join(k.workDir, "certs", "apiserver.crt"))
	if err != nil {
		t.Fatalf("testserver: kube-apiserver serving certificate: %v", err)
	}
	for _, kc := range []struct {
		path  *string
		user  string
		token string
	}{
		{&k.Kubeconfig, "tooz-test", userToken},
		{&k.NoRoleKubeconfig, "tooz-norole", noRoleToken},
		{&k.AdminKubeconfig, "tooz-admin", k.adminToken},
	} {
		*kc.path = filepath.Join(k.workDir, kc.user+".kubeconfig")
		if err := os.WriteFile(*kc.path, kubeconfig(k.Addr, ca, k.Namespace, kc.user, kc.token), 0o600); err != nil {
			t.Fatalf("testserver: %v", err)
		}
	}
	return k
}

// KubeconfigVia writes a kubeconfig of the test identity that reaches the
// API server at addr (a proxy in front of it, whose address the serving
// certificate does not name, so the file skips verification) and returns
// its path.
func (k *Kube) KubeconfigVia(addr string) (string, error) {
	p := filepath.Join(k.workDir, "via-"+strings.NewReplacer(":", "_", ".", "_").Replace(addr)+".kubeconfig")
	return p, os.WriteFile(p, kubeconfig(addr, nil, k.Namespace, "tooz-test", k.Token), 0o600)
}

// AdminRequest sends an HTTP request with the administrator's token to the
// API server and returns the body of a 2xx answer, for tests that act out
// of band. body is JSON (or nil).
func (k *Kube) AdminRequest(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	return k.request(ctx, k.Addr, method, path, body)
}

// kubeTLS trusts any serving certificate: only the probe and the set-up
// use it, against the server this process just started.
var kubeClient = &http.Client{Transport: &http.Transport{
	DisableKeepAlives: true,
	DialContext:       (&net.Dialer{Timeout: probeTimeout}).DialContext,
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
}}

func (k *Kube) request(ctx context.Context, addr, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+k.adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := kubeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %q", method, path, resp.Status, out)
	}
	return out, nil
}

// kubeconfig is a kubeconfig file's text for user (with token) in
// namespace on the API server at addr, whose serving certificate ca
// signs, or, for a nil ca, without verifying it.
func kubeconfig(addr string, ca []byte, namespace, user, token string) []byte {
	trust := "insecure-skip-tls-verify: true"
	if ca != nil {
		trust = "certificate-authority-data: " + base64.StdEncoding.EncodeToString(ca)
	}
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://%s
    %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: test
  context:
    cluster: test
    user: %s
    namespace: %s
current-context: test
`, addr, trust, user, token, user, namespace)
}

func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
