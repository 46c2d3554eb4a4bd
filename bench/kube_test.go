// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/testserver"
)

// kubeTarget runs a kube-apiserver on the project's etcd; the raw recipe
// is client-go's leaderelection on a LeaseLock, the way Kubernetes
// controllers take a lease: Lock runs an elector until it leads, Unlock
// cancels it with ReleaseOnCancel.
func kubeTarget(t *testing.T) *target {
	k := testserver.StartKube(t)
	kubes[k.Server] = k
	leases := kubeClient(t, k).Leases(k.Namespace)
	base := "k8s://?kubeconfig=" + url.QueryEscape(k.Kubeconfig)
	return &target{
		server:    k.Server,
		name:      "k8s",
		url:       base,
		addr:      k.Addr,
		floorName: "Leases.Get",
		floor: func(ctx context.Context) error {
			_, err := leases.Get(ctx, "floor", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				err = nil
			}
			return err
		},
		rawName: "leaderelection (LeaseLock)",
		rawLocker: func(t testing.TB, _, name string) locker {
			return &electorLock{client: kubeClient(t, k), ns: k.Namespace, name: "raw-" + strings.ToLower(name), id: unique("raw")}
		},
		settings: fmt.Sprintf("kube-apiserver %s on etcd %s (single member, no fsync), token authentication, RBAC; raw: client-go leaderelection with a LeaseLock (lease 10 s, renew deadline 5 s, retry 100 ms).",
			testserver.KubeVersion, testserver.EtcdVersion),
		livenessBar: once,
		crashable:   true,
		// Every member of the listing row is a coordinator with a client
		// and a watch of its own: 10,000 of them against one API server
		// on this machine do not finish in minutes.
		maxList: 1000,
	}
}

// kubes finds the testserver.Kube of a target's server.
var kubes = map[*testserver.Server]*testserver.Kube{}

// kubeClient is a client of the test identity, with a connection of its own.
func kubeClient(t testing.TB, k *testserver.Kube) *coordv1client.CoordinationV1Client {
	rc, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	rc.QPS, rc.Burst = -1, 0
	c, err := coordv1client.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// electorLock is a lock made of client-go's leader election.
type electorLock struct {
	client *coordv1client.CoordinationV1Client
	ns     string
	name   string
	id     string
	crash  bool // cancelling stops renewing without releasing
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *electorLock) elector(lease, renew, retry time.Duration, led chan<- struct{}) (*leaderelection.LeaderElector, error) {
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: l.name, Namespace: l.ns},
			Client:     l.client,
			LockConfig: resourcelock.ResourceLockConfig{Identity: l.id},
		},
		LeaseDuration:   lease,
		RenewDeadline:   renew,
		RetryPeriod:     retry,
		ReleaseOnCancel: !l.crash,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(led) },
			OnStoppedLeading: func() {},
		},
	})
}

func (l *electorLock) Lock(ctx context.Context) error {
	led := make(chan struct{})
	le, err := l.elector(10*time.Second, 5*time.Second, 100*time.Millisecond, led)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		le.Run(rctx)
	}()
	select {
	case <-led:
		l.cancel, l.done = cancel, done
		return nil
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
}

func (l *electorLock) Unlock(context.Context) error {
	l.cancel()
	<-l.done
	return nil
}

// rawKubeFailover times client-go's leader election the way benchFailover
// times ours: three electors on clients of their own, lease duration the
// liveness timeout, renew deadline and retry period in client-go's default
// proportions (15 s / 10 s / 2 s); the leader stops renewing without
// releasing (a crash), and the time until another one leads is a sample.
func rawKubeFailover(t *testing.T, k *testserver.Kube, rounds int, timeout time.Duration) samples {
	var out samples
	for range rounds {
		name := unique("raw-election")
		type won struct {
			i  int
			at time.Time
		}
		ch := make(chan won, 3)
		ls := make([]*electorLock, 3)
		for i := range ls {
			ls[i] = &electorLock{client: kubeClient(t, k), ns: k.Namespace, name: name, id: fmt.Sprint("raw-", i), crash: true}
			led := make(chan struct{})
			le, err := ls[i].elector(timeout, timeout*2/3, timeout*2/15, led)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			ls[i].cancel, ls[i].done = cancel, done
			go func() {
				defer close(done)
				le.Run(ctx)
			}()
			go func() {
				select {
				case <-led:
					ch <- won{i, time.Now()}
				case <-done:
				}
			}()
		}
		next := func() won {
			select {
			case w := <-ch:
				return w
			case <-time.After(time.Minute):
				t.Fatal("no raw leader within a minute")
			}
			return won{}
		}
		first := next()
		t0 := time.Now()
		ls[first.i].cancel() // renewals stop; the lease is left to expire
		second := next()
		out = append(out, second.at.Sub(t0))
		for _, l := range ls {
			l.cancel()
			<-l.done
		}
	}
	return out
}

// benchKubeRenewals counts the API server's requests per second while n
// members sit idle, each campaigning for one election: n tooz
// coordinators (heartbeats; candidates recheck at the leader's session
// deadline) against n client-go electors on one Lease (the leader renews,
// the others poll every retry period). Lease duration 15 s and client-go's
// default renew deadline and retry period (10 s, 2 s) for both.
func benchKubeRenewals(t *testing.T, tg *target, tr tier) {
	k := kubes[tg.server]
	// The quick tier only checks that it works: short lease, few members.
	n, window, lease, renew, retry := 10, time.Second, 3*time.Second, 2*time.Second, 400*time.Millisecond
	if tr.full {
		n, window, lease, renew, retry = 100, 30*time.Second, 15*time.Second, 10*time.Second, 2*time.Second
	}
	ns, g := unique("ns"), unique("g")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range n {
		c := open(t, tg, ns, fmt.Sprint("m", i), tooz.WithTimeout(lease))
		if err := c.JoinGroupCreate(ctx, g, nil); err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = c.Campaign(ctx, g) }()
	}
	time.Sleep(lease) // a warm-up before the window: every candidate waiting, heartbeats in their stride
	ours := kubeRequestRate(t, k, window)
	cancel()

	name := unique("raw-election")
	var ls []*electorLock
	for i := range n {
		l := &electorLock{client: kubeClient(t, k), ns: k.Namespace, name: name, id: fmt.Sprint("raw-", i)}
		le, err := l.elector(lease, renew, retry, make(chan struct{}))
		if err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		l.cancel, l.done = rcancel, done
		go func() {
			defer close(done)
			le.Run(rctx)
		}()
		ls = append(ls, l)
	}
	time.Sleep(lease) // the same warm-up
	raw := kubeRequestRate(t, k, window)
	for _, l := range ls {
		l.cancel()
		<-l.done
	}
	if ours <= 0 || raw <= 0 {
		t.Fatalf("no requests counted: ours %.1f/s, raw %.1f/s", ours, raw)
	}
	results.add(tg.name, row{metric: fmt.Sprintf("API requests/s, %d idle members campaigning for one election (lease %v, client-go renew %v, retry %v)", n, lease, renew, retry),
		ours: fmt.Sprintf("%.1f/s", ours), raw: fmt.Sprintf("%.1f/s", raw), ratio: ratio(ours, raw), bar: "–", verdict: "–"})
}

// kubeRequestRate is the API server's requests per second over window,
// from apiserver_request_total in its metrics.
func kubeRequestRate(t *testing.T, k *testserver.Kube, window time.Duration) float64 {
	count := func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		body, err := k.AdminRequest(ctx, http.MethodGet, "/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "apiserver_request_total{") {
				continue
			}
			if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
				sum += v
			}
		}
		return sum
	}
	a, t0 := count(), time.Now()
	time.Sleep(window)
	b := count()
	// Each metrics read is a request too.
	return (b - a - 1) / time.Since(t0).Seconds()
}
