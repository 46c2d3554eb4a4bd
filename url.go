// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package tooz

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Driver opens CoordinationDrivers for the URL schemes it is registered
// under. It is what Register takes, as database/sql takes a driver.Driver.
type Driver interface {
	// Options lists the URL query options the driver accepts, beside the
	// ones every driver accepts ("timeout" and "namespace"). Open rejects
	// any other option before the driver sees it.
	Options() []string
	// Open connects to the backend described by cfg and establishes this
	// coordinator's liveness (lease, session, heartbeat key).
	Open(ctx context.Context, cfg Config) (CoordinationDriver, error)
}

// Config is what Open hands a Driver: the parsed URL and the settings every
// driver shares, already validated and merged with the Go Options.
type Config struct {
	// URL is the URL as given, credentials included. Never print it: use Redacted.
	URL *url.URL
	// Hosts are the comma-separated hosts of the URL, in order; empty when the URL has none.
	Hosts []string
	// Options holds the driver-specific query options (each given once).
	Options map[string]string
	// MemberID is this coordinator's member ID, already validated.
	MemberID string
	// Timeout is the member liveness timeout (lease TTL, session timeout). Never zero.
	Timeout time.Duration
	// Namespace prefixes every key the driver writes, so that applications
	// sharing a backend do not see each other. Never empty.
	Namespace string
	// Logger receives the driver's log lines. Never nil.
	Logger *slog.Logger
}

// Redacted returns the URL with its password and secret options masked, for
// errors and logs.
func (c Config) Redacted() string { return redactURL(c.URL) }

// Duration returns the driver option name parsed as a duration ("10s",
// "250ms", or a plain number of seconds), or def when it is absent.
func (c Config) Duration(name string, def time.Duration) (time.Duration, error) {
	v, ok := c.Options[name]
	if !ok {
		return def, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%w: option %s=%q: %v", ErrInvalidURL, name, v, err)
	}
	return d, nil
}

// Int returns the driver option name parsed as a non-negative integer, or def when it is absent.
func (c Config) Int(name string, def int) (int, error) {
	v, ok := c.Options[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: option %s=%q: want a non-negative integer", ErrInvalidURL, name, v)
	}
	return n, nil
}

var registry = struct {
	sync.RWMutex
	drivers map[string]Driver
}{drivers: map[string]Driver{}}

// Register makes a driver available under a URL scheme. It panics if the
// scheme is registered twice or d is nil, as database/sql.Register does: both
// are programming errors found at init time.
func Register(scheme string, d Driver) {
	registry.Lock()
	defer registry.Unlock()
	if d == nil {
		panic("tooz: Register driver is nil")
	}
	scheme = strings.ToLower(scheme)
	if _, dup := registry.drivers[scheme]; dup {
		panic("tooz: Register called twice for scheme " + scheme)
	}
	registry.drivers[scheme] = d
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	registry.RLock()
	defer registry.RUnlock()
	return slices.Sorted(maps.Keys(registry.drivers))
}

func lookupDriver(scheme string) (Driver, bool) {
	registry.RLock()
	defer registry.RUnlock()
	d, ok := registry.drivers[strings.ToLower(scheme)]
	return d, ok
}

// Options every driver accepts.
const (
	optTimeout   = "timeout"
	optNamespace = "namespace"
)

// MinTimeout is the shortest member liveness timeout Open accepts on any
// backend; a driver whose backend cannot honour a timeout that short (etcd
// leases last whole seconds, ZooKeeper servers have a minimum session
// timeout) rejects it too, with ErrInvalidURL naming the minimum.
const MinTimeout = 10 * time.Millisecond

// DefaultTimeout is the member liveness timeout when neither the URL nor an
// Option sets one.
const DefaultTimeout = 10 * time.Second

// DefaultNamespace is the key prefix when neither the URL nor an Option sets one.
const DefaultNamespace = "tooz"

// secretOptions are query options whose values are masked like passwords.
var secretOptions = []string{"password", "token", "secret"}

// redactURL renders u with the password, secret query values and any opaque
// part replaced by "xxxxx", and without its fragment.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := *u
	// A fragment means nothing to a driver and an opaque part is no
	// host list: either may hold anything a user mistyped, secrets too.
	r.Fragment, r.RawFragment = "", ""
	if r.Opaque != "" {
		r.Opaque = "xxxxx"
	}
	if strings.Contains(r.Path, "@") {
		// A mistyped authority ("redis:/://u:pw@h") lands in the path.
		r.Path, r.RawPath = "/xxxxx", ""
	}
	if r.RawQuery != "" {
		q := r.Query()
		for k := range q {
			if slices.Contains(secretOptions, strings.ToLower(k)) {
				q[k] = []string{"xxxxx"}
			}
		}
		r.RawQuery = q.Encode()
	}
	return r.Redacted()
}

// parseDuration accepts Go durations and plain (possibly fractional) seconds,
// as OpenStack tooz does; the result must be positive.
func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return 0, fmt.Errorf("want a duration such as 10s or a number of seconds")
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be positive")
	}
	return d, nil
}

// parseURL splits rawURL into a Config and the driver, checking every
// option against what the driver accepts. It does no I/O. With given set,
// that driver serves whatever the scheme (see OpenDriver).
func parseURL(rawURL string, o *options, given Driver) (Driver, Config, error) {
	var cfg Config
	// net/url validates only the last port of a comma-separated host list
	// ("h1:1,h2" fails): parse with the list set aside, then put it back.
	parseable, hostList := rawURL, ""
	if i := strings.Index(rawURL, "://"); i >= 0 {
		rest := rawURL[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		auth := rest[:end]
		at := strings.LastIndex(auth, "@")
		if hosts := auth[at+1:]; strings.Contains(hosts, ",") {
			hostList = hosts
			parseable = rawURL[:i+3] + auth[:at+1] + "multi-host" + rest[end:]
		}
	}
	u, err := url.Parse(parseable)
	if err == nil && hostList != "" {
		u.Host = hostList
	}
	if err != nil {
		// url.Error quotes the URL, password included: report only the cause.
		msg := err.Error()
		if ue, ok := err.(*url.Error); ok {
			msg = ue.Err.Error()
		}
		return nil, cfg, fmt.Errorf("%w: %s", ErrInvalidURL, msg)
	}
	if u.Scheme == "" {
		// Without a scheme net/url finds no userinfo to mask (a mistyped
		// "redis//user:pw@host" is all path), so the input is not quoted.
		return nil, cfg, fmt.Errorf("%w: no scheme (want e.g. etcd://host:2379); registered schemes: %s",
			ErrInvalidURL, strings.Join(Schemes(), ", "))
	}
	d, ok := given, given != nil
	if !ok {
		d, ok = lookupDriver(u.Scheme)
	}
	if !ok {
		return nil, cfg, fmt.Errorf("%w: %q (registered schemes: %s; import a driver package, e.g. github.com/toozgo/tooz/drivers/all)",
			ErrUnknownDriver, u.Scheme, strings.Join(Schemes(), ", "))
	}
	cfg.URL = u
	if u.Host != "" {
		cfg.Hosts = strings.Split(u.Host, ",")
		for _, h := range cfg.Hosts {
			if err := checkHost(h); err != nil {
				return nil, cfg, fmt.Errorf("%w: %s: %v", ErrInvalidURL, redactURL(u), err)
			}
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, cfg, fmt.Errorf("%w: %s: bad query: %v", ErrInvalidURL, redactURL(u), err)
	}
	accepted := append([]string{optTimeout, optNamespace}, d.Options()...)
	cfg.Options = map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(accepted, k) {
			name := strconv.Quote(k)
			if !optionName(k) {
				name = "(a name that is no option name; not shown, it may hold a mistyped secret)"
			}
			return nil, cfg, fmt.Errorf("%w: unknown option %s for scheme %s (accepted: %s)",
				ErrInvalidURL, name, u.Scheme, strings.Join(accepted, ", "))
		}
		if len(q[k]) != 1 {
			return nil, cfg, fmt.Errorf("%w: option %q given %d times", ErrInvalidURL, k, len(q[k]))
		}
		cfg.Options[k] = q[k][0]
	}
	cfg.Timeout = DefaultTimeout
	if v, ok := cfg.Options[optTimeout]; ok {
		t, err := parseDuration(v)
		if err != nil {
			return nil, cfg, fmt.Errorf("%w: option timeout=%q: %v", ErrInvalidURL, v, err)
		}
		cfg.Timeout = t
		delete(cfg.Options, optTimeout)
	}
	if o.timeout > 0 {
		cfg.Timeout = o.timeout
	}
	if cfg.Timeout < MinTimeout {
		return nil, cfg, fmt.Errorf("%w: timeout %v is below the shortest liveness timeout, %v (the heart beats three times per timeout, a round trip each)",
			ErrInvalidURL, cfg.Timeout, MinTimeout)
	}
	cfg.Namespace = DefaultNamespace
	if v, ok := cfg.Options[optNamespace]; ok {
		cfg.Namespace = v
		delete(cfg.Options, optNamespace)
	}
	if o.namespace != "" {
		cfg.Namespace = o.namespace
	}
	if err := ValidateID(cfg.Namespace); err != nil {
		return nil, cfg, fmt.Errorf("%w: namespace: %w", ErrInvalidURL, err)
	}
	return d, cfg, nil
}

// checkHost accepts host, host:port, [v6] and [v6]:port with a numeric port.
func checkHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty host in list")
	}
	if strings.ContainsAny(h, " \t/?#@") {
		return fmt.Errorf("bad host %q", h)
	}
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.Index(h, "]")
		if end < 0 {
			return fmt.Errorf("bad host %q: unclosed [", h)
		}
		host, port = h[:end+1], strings.TrimPrefix(h[end+1:], ":")
		if h[end+1:] != "" && !strings.HasPrefix(h[end+1:], ":") {
			return fmt.Errorf("bad host %q", h)
		}
	} else if i := strings.LastIndex(h, ":"); i >= 0 {
		host, port = h[:i], h[i+1:]
	}
	if host == "" {
		return fmt.Errorf("bad host %q: no name", h)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("bad port in %q", h)
		}
	}
	return nil
}

// optionName reports whether k looks like an option name (letters, digits,
// '_', '-', at most 64 bytes), and so is safe to quote in an error.
func optionName(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, c := range k {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
