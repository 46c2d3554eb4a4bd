// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package etcd

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/record"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// enableAuth turns authentication on with a root user and returns a
// client logged in as root.
func enableAuth(t *testing.T, ctx context.Context, s *testserver.Server, rootPass string) *clientv3.Client {
	t.Helper()
	raw := rawClient(t, s)
	_, err := raw.RoleAdd(ctx, "root")
	testutil.Must(t, err, "role add root")
	_, err = raw.UserAdd(ctx, "root", rootPass)
	testutil.Must(t, err, "user add root")
	_, err = raw.UserGrantRole(ctx, "root", "root")
	testutil.Must(t, err, "grant root")
	_, err = raw.AuthEnable(ctx)
	testutil.Must(t, err, "auth enable")
	root, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + s.Addr}, Username: "root", Password: rootPass, DialTimeout: 5 * time.Second})
	testutil.Must(t, err, "root client")
	t.Cleanup(func() { root.Close() })
	return root
}

// addUser creates user with pass and read-write access to the keys under
// prefix only ("": every key).
func addUser(t *testing.T, ctx context.Context, root *clientv3.Client, user, pass, prefix string) {
	t.Helper()
	_, err := root.RoleAdd(ctx, user)
	testutil.Must(t, err, "role add")
	key, end := prefix, clientv3.GetPrefixRangeEnd(prefix)
	if prefix == "" {
		key, end = "\x00", "\x00" // from the first key to the end
	}
	_, err = root.RoleGrantPermission(ctx, user, key, end, clientv3.PermissionType(clientv3.PermReadWrite))
	testutil.Must(t, err, "grant permission")
	_, err = root.UserAdd(ctx, user, pass)
	testutil.Must(t, err, "user add")
	_, err = root.UserGrantRole(ctx, user, user)
	testutil.Must(t, err, "grant role")
}

// TestAuthSecretsNeverShown complements TestAuth: the error of a refused
// Open names the backend and the problem, and neither it, nor the log,
// nor URL() of a coordinator that got in, shows a password; a user whose
// role covers only its own namespace works there and gets ErrAuth in
// another one.
func TestAuthSecretsNeverShown(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t)
	const rootPass, appPass, wrongPass = "r00t-Secret-1", "app-Secret-22", "wr0ng-Secret-333"
	root := enableAuth(t, ctx, s, rootPass)
	ns := testutil.Unique("ns")
	addUser(t, ctx, root, "app", appPass, keyspace.Escape(ns)+"/")
	var logs testutil.LogBuffer
	var shown []string

	_, err := tooz.Open(ctx, "etcd://app:"+wrongPass+"@"+s.Addr+"?namespace="+ns, "m",
		tooz.WithTimeout(testTimeout), tooz.WithLogger(logs.Logger()))
	if !errors.Is(err, tooz.ErrAuth) || !strings.Contains(err.Error(), "etcd") {
		t.Fatalf("wrong password: %v, want ErrAuth naming etcd", err)
	}
	shown = append(shown, err.Error())
	t.Logf("refused: %v", err)

	c := open(t, "etcd://app:"+appPass+"@"+s.Addr+"?namespace="+ns, "m", tooz.WithLogger(logs.Logger()))
	shown = append(shown, c.URL())
	g := testutil.Unique("g")
	testutil.Must(t, c.JoinGroupCreate(ctx, g, []byte("caps")), "join in the user's namespace")
	l := c.Lock("l")
	testutil.Must(t, l.Acquire(ctx), "lock in the user's namespace")
	testutil.Must(t, l.Release(ctx), "release")

	// Another namespace is out of the role's range: Open only makes a
	// lease, which needs no permission; the first write is ErrAuth.
	o := open(t, "etcd://app:"+appPass+"@"+s.Addr+"?namespace="+testutil.Unique("other"), "m", tooz.WithLogger(logs.Logger()))
	err = o.JoinGroupCreate(ctx, g, nil)
	if !errors.Is(err, tooz.ErrAuth) {
		t.Fatalf("join in a namespace outside the user's role: %v, want ErrAuth", err)
	}
	shown = append(shown, err.Error())
	t.Logf("outside the role: %v", err)
	testutil.Must(t, o.Close(ctx), "close")
	testutil.Must(t, c.Close(ctx), "close")
	shown = append(shown, logs.String())
	testutil.CheckNoSecret(t, shown, rootPass, appPass, wrongPass)
}

// TestForeignData writes what tooz never writes into a namespace with the
// raw client — keys that are not escaped IDs, malformed and truncated
// member values, a member key without a name, keys in lock and election
// queues — and checks that listings and watches ignore it with a log line,
// never panic and never report a wrong member.
func TestForeignData(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	s := testserver.StartEtcd(t, testserver.WithNoFsync())
	raw := rawClient(t, s)
	ns := testutil.Unique("ns")
	var logs testutil.LogBuffer
	u := "etcd://" + s.Addr + "?namespace=" + ns
	a := open(t, u, "a", tooz.WithLogger(logs.Logger()))
	g := testutil.Unique("g")
	testutil.Must(t, a.JoinGroupCreate(ctx, g, []byte("caps-a")), "a joins")
	joined := make(chan string, 16)
	w, err := a.WatchJoinGroup(ctx, g, func(e tooz.MemberJoined) { joined <- e.Member })
	testutil.Must(t, err, "watch")
	defer w.Stop()

	k := keys{ns: keyspace.Escape(ns) + "/"}
	valid := record.Encode(record.Member{Capabilities: []byte("forged"), JoinedAt: time.Now(), UpdatedAt: time.Now()})
	for key, val := range map[string][]byte{
		k.groupsPrefix() + "not.escaped":  nil,
		k.groupsPrefix() + "%FF":          nil,
		k.groupsPrefix() + "a/b":          nil,
		k.membersOf(g):                    valid,              // no member name
		k.membersOf(g) + "%C3":            valid,              // not UTF-8
		k.membersOf(g) + "lower%2f":       valid,              // not our escape
		k.membersOf(g) + "x/y":            valid,              // nested
		k.membersOf(g) + "garbage":        []byte("\xffjunk"), // not a record
		k.membersOf(g) + "truncated":      valid[:len(valid)/2],
		k.membersOf(g) + "empty":          {},
		k.ns + "members/not.escaped/m":    valid,
		k.ns + "unexpected/top-level/key": []byte("x"),
	} {
		_, err := raw.Put(ctx, key, string(val))
		testutil.Must(t, err, "put "+key)
	}
	// A malformed value on a key that a lease holds, as a member's is.
	lease, err := raw.Grant(ctx, 60)
	testutil.Must(t, err, "grant a lease")
	_, err = raw.Put(ctx, k.membersOf(g)+"leased-garbage", "\x00junk", clientv3.WithLease(lease.ID))
	testutil.Must(t, err, "put leased garbage")
	// A member that really joins after the garbage: its event must be the
	// first one the watch reports.
	b := open(t, u, "b")
	testutil.Must(t, b.JoinGroup(ctx, g, []byte("caps-b")), "b joins")
	testutil.CheckFirstJoin(t, joined, "b", 20*time.Second)

	testutil.CheckOnlyAB(t, ctx, a, g)
	for _, m := range []string{"garbage", "truncated", "empty", "leased-garbage"} {
		if info, err := a.MemberInfo(ctx, g, m); err == nil {
			t.Fatalf("MemberInfo(%q) of a malformed value = %+v, want an error", m, info)
		}
	}
	if !strings.Contains(logs.String(), "ignoring") {
		t.Fatalf("no log line about the ignored entries:\n%s", logs.String())
	}

	// Garbage in a lock's queue and in an election's: never a panic, and
	// never the garbage reported as an owner: a key that no lease holds is
	// not a member's.
	_, err = raw.Put(ctx, k.resource(tooz.Resource{Name: "l", Kind: tooz.KindLock})+"foreign", "\xffowner")
	testutil.Must(t, err, "put a foreign lock contender")
	_, err = raw.Put(ctx, k.resource(tooz.Resource{Name: g, Kind: tooz.KindElection})+"foreign", "\xffleader")
	testutil.Must(t, err, "put a foreign candidate")
	ok, err := a.Lock("l").TryAcquire(ctx)
	if ok || err != nil {
		t.Fatalf("TryAcquire behind a foreign key: %v, %v; want false (the foreign key heads the queue)", ok, err)
	}
	owner, err := a.Lock("l").Owner(ctx)
	if err == nil {
		t.Fatalf("Owner of a lock headed by a foreign key = %q, want an error", owner)
	}
	t.Logf("Owner: %v", err)
	leader, err := a.Leader(ctx, g)
	if err == nil {
		t.Fatalf("Leader of an election headed by a foreign key = %q, want an error", leader)
	}
	if !strings.Contains(logs.String(), "foreign key without a lease") {
		t.Fatalf("no log line about the foreign contender:\n%s", logs.String())
	}
}

// TestConformanceAuthTLS runs the whole suite on etcd 3.4 with
// authentication on, as a user that is not root, through a TLS terminator
// that demands a client certificate (see TestTLS).
func TestConformanceAuthTLS(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	// etcd checks the password with bcrypt at every Open; at the default
	// cost that is too slow for the suite's many coordinators on a loaded
	// machine, and only etcd's own binary takes --bcrypt-cost (the 3.6
	// wrapper in tools/etcd does not): run the oldest supported server.
	s := testserver.StartEtcd(t, testserver.WithEtcd34(), testserver.WithArgs("--bcrypt-cost", "4"))
	root := enableAuth(t, ctx, s, "r00t-Secret-1")
	ns := testutil.Unique("conf-auth")
	// The whole key space: NamespacesIsolate opens namespaces of its own.
	addUser(t, ctx, root, "suite", "suite-Secret-4", "")

	dir := t.TempDir()
	ca, caKey := newCA(t)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	srvCert := issue(t, ca, caKey, false)
	cliCert := issue(t, ca, caKey, true)
	writePEM(t, filepath.Join(dir, "client.pem"), "CERTIFICATE", cliCert.Certificate[0])
	keyDER, err := x509.MarshalECPrivateKey(cliCert.PrivateKey.(*ecdsa.PrivateKey))
	testutil.Must(t, err, "marshal key")
	writePEM(t, filepath.Join(dir, "client-key.pem"), "EC PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	addr := tlsProxy(t, s.Addr, &tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS12,
	})
	conformance.Run(t, conformance.URLHarness{
		URL: "etcd+https://suite:suite-Secret-4@" + addr + "?namespace=" + url.QueryEscape(ns) +
			"&ca=" + url.QueryEscape(filepath.Join(dir, "ca.pem")) +
			"&cert=" + url.QueryEscape(filepath.Join(dir, "client.pem")) +
			"&key=" + url.QueryEscape(filepath.Join(dir, "client-key.pem")),
		LivenessTimeout: testTimeout,
	})
}
