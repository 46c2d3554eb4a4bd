// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/hashicorp/consul/api"
	goredis "github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/faults/checker"
	"github.com/toozgo/tooz/faults/history"
	"github.com/toozgo/tooz/internal/keyspace"
	"github.com/toozgo/tooz/internal/testserver"
)

// revokeFunc revokes, out of band, through the backend's own client (as an
// operator or a buggy tool would), what makes holder the owner of res in
// namespace ns on the server at addr. It returns what it revoked, and
// whether that was the holder's whole session (every lock, leadership and
// membership it has) rather than this one resource. It returns
// errNotHolder when holder does not own res (any more). With keyOnly it
// deletes only the owner's key (etcdctl del, consul kv delete, Redis DEL of
// the lock key) and leaves the session alive; ZooKeeper always deletes
// the owner znode only.
type revokeFunc func(ctx context.Context, addr, ns string, res tooz.Resource, holder string, keyOnly bool) (what string, session bool, err error)

var errNotHolder = errors.New("not the holder (any more)")

// revokeKube deletes, as the administrator, the holder's session Lease
// (found in the labels of the resource's Lease; the holder's watch of its
// own Leases sees it go and its next heartbeat starts a new session) or,
// with keyOnly, the resource's Lease itself. The names follow
// drivers/kubernetes: "tooz-l-" and a hash of the namespace's hash, the
// resource kind and its name.
func revokeKube(ctx context.Context, addr, ns string, res tooz.Resource, holder string, keyOnly bool) (string, bool, error) {
	var k *testserver.Kube
	kubes.Range(func(_, v any) bool {
		if kv := v.(*testserver.Kube); kv.Addr == addr {
			k = kv
		}
		return k == nil
	})
	if k == nil {
		return "", false, fmt.Errorf("no kube-apiserver at %s", addr)
	}
	khash := func(parts ...string) string {
		h := sha256.New()
		for i, p := range parts {
			if i > 0 {
				h.Write([]byte{0})
			}
			h.Write([]byte(p))
		}
		return hex.EncodeToString(h.Sum(nil)[:16])
	}
	base := "/apis/coordination.k8s.io/v1/namespaces/" + k.Namespace + "/leases/"
	name := "tooz-l-" + khash(khash(ns), strconv.Itoa(int(res.Kind)), res.Name)
	body, err := k.AdminRequest(ctx, http.MethodGet, base+name, nil)
	if err != nil {
		if strings.Contains(err.Error(), "404") {
			return "", false, errNotHolder
		}
		return "", false, err
	}
	var l struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			HolderIdentity string `json:"holderIdentity"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(body, &l); err != nil {
		return "", false, err
	}
	if l.Spec.HolderIdentity != holder {
		return "", false, errNotHolder
	}
	if keyOnly {
		if _, err := k.AdminRequest(ctx, http.MethodDelete, base+name, nil); err != nil {
			return "", false, err
		}
		return "lease " + name + " deleted (session alive)", false, nil
	}
	sess := l.Metadata.Labels["tooz.dev/session"]
	if _, err := k.AdminRequest(ctx, http.MethodDelete, base+sess, nil); err != nil {
		return "", false, err
	}
	return "session lease " + sess + " of lease " + name + " deleted", true, nil
}

// revokeEtcd revokes the lease the owner key hangs on (the key layout:
// NS/locks/NAME/<lease hex>_<slot>, value the member ID; the oldest
// key owns). Every key of the holder's session goes with it.
func revokeEtcd(ctx context.Context, addr, ns string, res tooz.Resource, holder string, keyOnly bool) (string, bool, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return "", false, err
	}
	defer cli.Close()
	kind := "locks/"
	if res.Kind == tooz.KindElection {
		kind = "elections/"
	}
	prefix := keyspace.Escape(ns) + "/" + kind + keyspace.Escape(res.Name) + "/"
	resp, err := cli.Get(ctx, prefix, clientv3.WithFirstCreate()...)
	if err != nil {
		return "", false, err
	}
	if len(resp.Kvs) == 0 || string(resp.Kvs[0].Value) != holder || resp.Kvs[0].Lease == 0 {
		return "", false, errNotHolder
	}
	if keyOnly {
		dresp, err := cli.Delete(ctx, string(resp.Kvs[0].Key), clientv3.WithPrevKV())
		if err != nil {
			return "", false, err
		}
		if dresp.Deleted == 0 || string(dresp.PrevKvs[0].Value) != holder {
			return "", false, errNotHolder
		}
		return fmt.Sprintf("etcd owner key %s deleted (lease %x alive)", resp.Kvs[0].Key, resp.Kvs[0].Lease), false, nil
	}
	lease := clientv3.LeaseID(resp.Kvs[0].Lease)
	if _, err := cli.Revoke(ctx, lease); err != nil {
		return "", false, fmt.Errorf("revoke lease %x: %w", int64(lease), err)
	}
	return fmt.Sprintf("etcd lease %x of owner key %s revoked", int64(lease), resp.Kvs[0].Key), true, nil
}

// revokeRedis deletes the holder's session key ({NS}:s:<sid>, found in
// the lock hash {NS}:l:NAME, or {NS}:e:NAME for a leadership): the holder's
// next heartbeat finds its session gone and reaps everything it owned.
func revokeRedis(ctx context.Context, addr, ns string, res tooz.Resource, holder string, keyOnly bool) (string, bool, error) {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	p := "{" + keyspace.Escape(ns) + "}"
	lk := p + ":l:" + keyspace.Escape(res.Name)
	if res.Kind == tooz.KindElection {
		lk = p + ":e:" + keyspace.Escape(res.Name)
	}
	h, err := rdb.HMGet(ctx, lk, "sid", "mem").Result()
	if err != nil {
		return "", false, err
	}
	sid, _ := h[0].(string)
	mem, _ := h[1].(string)
	if sid == "" || mem != holder {
		return "", false, errNotHolder
	}
	if keyOnly {
		n, err := rdb.Del(ctx, lk).Result()
		if err != nil {
			return "", false, err
		}
		if n == 0 {
			return "", false, errNotHolder
		}
		return fmt.Sprintf("redis lock key %s deleted (session %s alive)", lk, sid), false, nil
	}
	n, err := rdb.Del(ctx, p+":s:"+sid).Result()
	if err != nil {
		return "", false, err
	}
	if n == 0 {
		return "", false, errNotHolder
	}
	return fmt.Sprintf("redis session %s of %s deleted", sid, lk), true, nil
}

// revokeZooKeeper deletes the holder's owner znode (the lowest
// c_<guid>_<seq> under /NS/locks/NAME or /NS/elections/NAME, whose data
// is the member ID). A session cannot be expired from outside without its
// password: deleting the znode is the revocation of this one resource.
func revokeZooKeeper(ctx context.Context, addr, ns string, res tooz.Resource, holder string, keyOnly bool) (string, bool, error) {
	z, _, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		return "", false, err
	}
	defer z.Close()
	kind := "/locks/"
	if res.Kind == tooz.KindElection {
		kind = "/elections/"
	}
	dir := "/" + keyspace.Escape(ns) + kind + keyspace.Escape(res.Name)
	type reply struct {
		path string
		err  error
	}
	done := make(chan reply, 1)
	go func() {
		children, _, err := z.Children(dir)
		if err != nil {
			done <- reply{err: err}
			return
		}
		lowest, best := "", int64(-1)
		for _, c := range children {
			i := strings.LastIndexByte(c, '_')
			seq, perr := strconv.ParseInt(c[i+1:], 10, 64)
			if !strings.HasPrefix(c, "c_") || i < 0 || perr != nil {
				continue
			}
			if best < 0 || seq < best {
				lowest, best = c, seq
			}
		}
		if lowest == "" {
			done <- reply{err: errNotHolder}
			return
		}
		path := dir + "/" + lowest
		data, st, err := z.Get(path)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			err = errNotHolder
		case err == nil && string(data) != holder:
			err = errNotHolder
		case err == nil:
			err = z.Delete(path, st.Version)
			if errors.Is(err, zk.ErrNoNode) {
				err = errNotHolder
			}
		}
		done <- reply{path, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return "", false, r.err
		}
		return "zookeeper owner znode " + r.path + " deleted", false, nil
	case <-ctx.Done():
		z.Close() // ends the calls in flight
		<-done
		return "", false, ctx.Err()
	}
}

// revokeConsul destroys the session that holds the owner key
// (NS/locks/NAME/owner, a JSON record naming the member): every lock,
// leadership and membership of that session goes with it.
func revokeConsul(ctx context.Context, addr, ns string, res tooz.Resource, holder string, keyOnly bool) (string, bool, error) {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = addr
	cli, err := api.NewClient(cfg)
	if err != nil {
		return "", false, err
	}
	defer cfg.Transport.CloseIdleConnections()
	kind := "/locks/"
	if res.Kind == tooz.KindElection {
		kind = "/elections/"
	}
	key := keyspace.Escape(ns) + kind + keyspace.Escape(res.Name) + "/owner"
	q := (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx)
	kv, _, err := cli.KV().Get(key, q)
	if err != nil {
		return "", false, err
	}
	var rec struct {
		Member string `json:"member"`
	}
	if kv == nil || kv.Session == "" || json.Unmarshal(kv.Value, &rec) != nil || rec.Member != holder {
		return "", false, errNotHolder
	}
	if keyOnly {
		ok, _, err := cli.KV().DeleteCAS(kv, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil {
			return "", false, err
		}
		if !ok {
			return "", false, errNotHolder
		}
		return fmt.Sprintf("consul owner key %s deleted (session %s alive)", key, kv.Session), false, nil
	}
	if _, err := cli.Session().Destroy(kv.Session, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return "", false, fmt.Errorf("destroy session %s: %w", kv.Session, err)
	}
	return fmt.Sprintf("consul session %s holding %s destroyed", kv.Session, key), true, nil
}

// revokeHolder revokes the current holder's lock or leadership (f, res)
// out of band (its session, or with keyOnly only its owner key) and records it; the holder runs on, so it must see Lost()
// within TTL + slack, and someone else must take over within TTL + slack.
func (r *run) revokeHolder(f, res string, keyOnly bool) {
	if r.spec.revoke == nil {
		r.t.Fatalf("no revoke function for %s", r.spec.name)
	}
	kind := tooz.KindLock
	if f == history.FLead {
		kind = tooz.KindElection
	}
	for range 5 {
		p := r.holder(res, 30*time.Second)
		if p == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := history.Now()
		what, session, err := r.spec.revoke(ctx, r.srv.Addr, r.ns, tooz.Resource{Kind: kind, Name: res}, p.name, keyOnly)
		cancel()
		if errors.Is(err, errNotHolder) {
			r.t.Logf("faults: revoke %s %s: %s is %v; trying the next holder", f, res, p.name, err)
			continue
		}
		if err != nil {
			r.t.Errorf("faults: revoke %s %s of %s: %v", f, res, p.name, err)
			return
		}
		rec := history.Rec{T: t0, Type: history.Nemesis, F: checker.RevokeClient, Proc: p.name, Res: res, Note: f + " " + res + ": " + what}
		if session {
			rec.Res = "" // every section of the process
		}
		r.hist.Add(rec)
		r.t.Logf("faults: revoked %s (%s %s) out of band: %s", p.name, f, res, what)
		r.waitFor(p.name+" notices the revocation", r.ttl+r.slack+10*time.Second, noticed(p.name, t0))
		r.waitFor("takeover of "+res+" after the revocation", r.ttl+r.slack+20*time.Second, entered(f, res, "", t0))
		return
	}
	r.t.Logf("faults: revoke %s %s: the holder kept changing; fault skipped", f, res)
}

// TestRevoke revokes out of band the lock holder's session and deletes the
// leader's owner key (the other way round in a second round), with nothing
// else going on and with critical sections longer than TTL + slack, so that
// a holder never told of the revocation fails the check (in TestFull the
// sections are short: a holder may end its section before its driver could
// tell). It is in the smoke tier (one round on etcd, Redis, ZooKeeper and
// Consul, 2–6 s each); with TOOZ_FAULTS=full, two rounds on every backend
// configuration (TOOZ_FAULTS_BACKENDS narrows them). TestFull revokes
// sessions among its other faults.
func TestRevoke(t *testing.T) {
	names := []string{"etcd", "redis", "zookeeper", "consul", "kubernetes"}
	rounds := 1
	if os.Getenv("TOOZ_FAULTS") == "full" {
		names = []string{"etcd", "redis", "redis-aof", "zookeeper", "consul", "consul-persistent", "kubernetes"}
		rounds = 2
		if v := os.Getenv("TOOZ_FAULTS_BACKENDS"); v != "" {
			names = splitComma(v)
		}
	}
	for _, name := range names {
		spec, ok := backends[name]
		if _, cluster := clusterBackends[name]; cluster {
			continue // TestFullCluster's
		}
		if !ok {
			t.Fatalf("unknown backend %q", name)
		}
		t.Run(name, func(t *testing.T) {
			r := newRun(t, spec, fullTTL, 0)
			// Sections longer than TTL + slack: a holder that is never
			// told of the revocation is still holding at the deadline.
			r.args = []string{"-hold-min", "5s", "-hold-max", "6s"}
			for range 3 {
				r.startProc()
			}
			r.waitFor("every process sees all three members", 60*time.Second, func(recs []history.Rec) bool {
				return converged(recs, r.live())
			})
			for i := range rounds {
				// The lock holder's session and the leader's owner key,
				// then the other way round.
				r.revokeHolder(history.FLock, lockRes, i%2 == 1)
				r.revokeHolder(history.FLead, leadRes, i%2 == 0)
			}
			r.finish()
		})
	}
}
