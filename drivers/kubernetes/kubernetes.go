// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	coordv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/toozgo/tooz"
	"github.com/toozgo/tooz/internal/driverkit"
)

func init() { tooz.Register("k8s", driver{}) }

type driver struct{}

// Options implements tooz.Driver.
func (driver) Options() []string { return []string{"kubeconfig", "context", "qps"} }

// inClusterNamespace is where a pod's service account token mounts its namespace.
const inClusterNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Open implements tooz.Driver.
func (driver) Open(ctx context.Context, cfg tooz.Config) (tooz.CoordinationDriver, error) {
	rc, kns, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < time.Second {
		return nil, fmt.Errorf("%w: timeout %v: Kubernetes leases count whole seconds; the shortest timeout is 1s", tooz.ErrInvalidURL, cfg.Timeout)
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", tooz.ErrInvalidURL, cfg.Redacted(), err)
	}
	coord, err := coordv1client.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", tooz.ErrInvalidURL, cfg.Redacted(), err)
	}
	core, err := corev1client.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", tooz.ErrInvalidURL, cfg.Redacted(), err)
	}
	c := newConn(cfg, kns, coord.Leases(kns), core.ConfigMaps(kns))
	if err := c.openSession(ctx); err != nil {
		c.stop()
		return nil, err
	}
	c.runner.Go(c.followHoldings)
	return c, nil
}

// restConfig resolves the API server, the identity and the Kubernetes
// namespace: from the kubeconfig file the URL names (and its context), or
// else from the pod's service account. The URL's host, when given, is the
// namespace.
func restConfig(cfg tooz.Config) (*rest.Config, string, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", tooz.ErrInvalidURL, cfg.Redacted(), fmt.Sprintf(format, a...))
	}
	if len(cfg.Hosts) > 1 {
		return nil, "", bad("one Kubernetes namespace at most, got %d hosts", len(cfg.Hosts))
	}
	if p := strings.Trim(cfg.URL.Path, "/"); p != "" {
		return nil, "", bad("a path (%q) has no meaning: the namespace is the host", p)
	}
	if cfg.URL.User != nil {
		return nil, "", bad("credentials come from the kubeconfig or the service account, not the URL")
	}
	kns := ""
	if len(cfg.Hosts) == 1 {
		kns = cfg.Hosts[0]
		if _, port, err := net.SplitHostPort(kns); err == nil || port != "" {
			return nil, "", bad("the host is a Kubernetes namespace, not an address: %q", kns)
		}
	}
	var rc *rest.Config
	if path, ok := cfg.Options["kubeconfig"]; ok {
		if path == "" {
			return nil, "", bad("kubeconfig is empty")
		}
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Options["context"]})
		var err error
		if rc, err = loader.ClientConfig(); err != nil {
			return nil, "", bad("kubeconfig %s: %v", path, err)
		}
		if kns == "" {
			if kns, _, err = loader.Namespace(); err != nil {
				return nil, "", bad("kubeconfig %s: %v", path, err)
			}
		}
	} else {
		if _, ok := cfg.Options["context"]; ok {
			return nil, "", bad("context needs kubeconfig")
		}
		var err error
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, "", bad("not running in a pod (%v): give kubeconfig=PATH", err)
		}
		if kns == "" {
			if b, err := os.ReadFile(inClusterNamespace); err == nil {
				kns = strings.TrimSpace(string(b))
			}
		}
	}
	if kns == "" {
		kns = "default"
	}
	if errs := validation.IsDNS1123Label(kns); len(errs) > 0 {
		return nil, "", bad("namespace %q: %s", kns, strings.Join(errs, "; "))
	}
	// The API server has its own flow control; client-go's default of 5
	// requests per second would delay heartbeats behind a burst of calls.
	rc.QPS, rc.Burst = -1, 0
	if v, ok := cfg.Options["qps"]; ok {
		q, err := strconv.ParseFloat(v, 32)
		if err != nil || q <= 0 {
			return nil, "", bad("qps=%q: want a positive number of requests per second", v)
		}
		rc.QPS, rc.Burst = float32(q), max(int(q)*2, 1)
	}
	rc.UserAgent = "tooz-go"
	return rc, kns, nil
}

// Labels and annotations of the objects the driver writes. Label values
// are hashes (labels hold 63 characters of a restricted alphabet); the
// names they stand for are in annotations or in the Lease's holder.
const (
	labelNamespace   = "tooz.dev/namespace"   // hash of the tooz namespace
	labelKind        = "tooz.dev/kind"        // session, group, member or a resource kind
	labelGroup       = "tooz.dev/group"       // member: hash of its group
	labelSession     = "tooz.dev/session"     // member, holding: the session object's name
	labelCoordinator = "tooz.dev/coordinator" // session, holding: the coordinator that wrote it
	annName          = "tooz.dev/name"        // group, member, holding: the tooz name
	annTimeout       = "tooz.dev/timeout"     // session: its exact timeout
	annContender     = "tooz.dev/contender"   // holding: which Acquire call holds it
	annJoined        = "tooz.dev/joined"      // member: RFC 3339 time of the join
	annUpdated       = "tooz.dev/updated"     // member: RFC 3339 time of the last capabilities
	keyCapabilities  = "capabilities"         // member: binaryData key
)

// conn is one coordinator's driver.
type conn struct {
	log     *slog.Logger
	member  string
	timeout time.Duration
	kns     string
	nsHash  string
	id      string // this coordinator's label value
	leases  coordv1client.LeaseInterface
	cms     corev1client.ConfigMapInterface

	ctx    context.Context // background work; cancelled by Close and Abandon
	cancel context.CancelFunc
	runner driverkit.Runner

	hbMu sync.Mutex // one Heartbeat at a time

	mu       sync.Mutex
	closed   bool
	sess     *session
	holdings map[string]*ownership // by lock object name and contender

	// Test hooks (breakWatches): while testHold holds a channel, watches
	// wait for it to close; testKick closes to end running watches.
	testHold atomic.Pointer[chan struct{}]
	testMu   sync.Mutex
	testKick chan struct{}
}

func newConn(cfg tooz.Config, kns string, leases coordv1client.LeaseInterface, cms corev1client.ConfigMapInterface) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		log:      cfg.Logger,
		member:   cfg.MemberID,
		timeout:  cfg.Timeout,
		kns:      kns,
		nsHash:   hash(cfg.Namespace),
		id:       driverkit.NewID(),
		leases:   leases,
		cms:      cms,
		ctx:      ctx,
		cancel:   cancel,
		holdings: map[string]*ownership{},
	}
}

// hash is the label value and object name part for a sequence of names:
// 32 hex digits of SHA-256, with NUL between the parts (no tooz name holds
// one).
func hash(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (c *conn) groupName(group string) string { return "tooz-g-" + hash(c.nsHash, group) }
func (c *conn) memberName(group, member string) string {
	return "tooz-m-" + hash(c.nsHash, group, member)
}
func (c *conn) lockName(res tooz.Resource) string {
	return "tooz-l-" + hash(c.nsHash, strconv.Itoa(int(res.Kind)), res.Name)
}

// selector joins label requirements.
func selector(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i] + "=" + kv[i+1])
	}
	return b.String()
}

// Characteristics implements tooz.CoordinationDriver. The API server
// writes through etcd with optimistic concurrency and serves reads that
// name no resourceVersion from etcd's quorum, so operations are
// linearizable, hence sequential and causal; every client sees the same
// state. Liveness is judged by clocks (see the package doc), so it is not
// non-timeout-based.
func (c *conn) Characteristics() []tooz.Characteristic {
	return []tooz.Characteristic{
		tooz.DistributedAcrossThreads, tooz.DistributedAcrossProcesses, tooz.DistributedAcrossHosts,
		tooz.Linearizable, tooz.Sequential, tooz.Causal, tooz.SameViewAcrossClients,
	}
}

// translate maps API errors to tooz's sentinels, keeping the original
// error in the chain. Context errors pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	switch {
	case apierrors.IsUnauthorized(err), apierrors.IsForbidden(err):
		return fmt.Errorf("%w: kubernetes: %w", tooz.ErrAuth, err)
	case apierrors.IsRequestEntityTooLargeError(err):
		return fmt.Errorf("%w: kubernetes: %w", tooz.ErrValueTooLarge, err)
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return fmt.Errorf("%w: kubernetes: %w", tooz.ErrTimeout, err)
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return fmt.Errorf("kubernetes: %w", err)
	}
	return fmt.Errorf("%w: kubernetes: %w", tooz.ErrConnection, err)
}

// stop ends background work and waits for it.
func (c *conn) stop() {
	c.cancel()
	c.runner.Wait()
}

// shutdown marks the coordinator closed, stops background work and ends
// the session's ownerships, reporting false when Close or Abandon did that
// already.
func (c *conn) shutdown() bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.closed = true
	s := c.sess
	c.mu.Unlock()
	c.stop()
	if s != nil {
		s.scope.End()
	}
	return true
}

// Close implements tooz.CoordinationDriver: it ends every ownership and
// deletes every object of this coordinator (two requests: Leases and
// ConfigMaps).
func (c *conn) Close(ctx context.Context) error {
	if !c.shutdown() {
		return nil
	}
	return translate(c.deleteLabelled(ctx, labelCoordinator, c.id))
}

// Abandon implements tooz.Abandoner: background work stops and nothing is
// deleted, as if the process had been killed.
func (c *conn) Abandon() { c.shutdown() }
