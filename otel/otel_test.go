// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package otel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/redis"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
	"github.com/toozgo/tooz/otel"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/toozgo/tooz/internal/testserver.spawn.func1.1"))
}

// TestPrometheusScrape: on a real Redis, a lock cycle, a try that finds
// the lock taken, a join watched by another member, a campaign followed by
// WatchLeader and a heartbeat show up as series on a Prometheus /metrics
// endpoint served through the OpenTelemetry exporter, and as spans.
func TestPrometheusScrape(t *testing.T) {
	s := testserver.StartRedis(t)
	ctx := testutil.Context(t, time.Minute)
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	obs, err := otel.New(otel.WithMeterProvider(mp), otel.WithTracerProvider(tp), otel.WithNames())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)

	url := "redis://" + s.Addr + "?namespace=" + testutil.Unique("otel")
	open := func(member string) *tooz.Coordinator {
		c, err := tooz.Open(ctx, url, member, tooz.WithObserver(obs))
		if err != nil {
			t.Fatalf("open %s: %v", member, err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		return c
	}
	a, b := open("a"), open("b")
	lock := testutil.Unique("lock")
	la := a.Lock(lock)
	testutil.Must(t, la.Acquire(ctx), "a acquires")
	if ok, err := b.Lock(lock).TryAcquire(ctx); ok || err != nil {
		t.Fatalf("b's TryAcquire of a held lock = %v, %v", ok, err)
	}
	testutil.Must(t, la.Release(ctx), "a releases")

	group := testutil.Unique("g")
	testutil.Must(t, a.CreateGroup(ctx, group), "create group")
	joined := make(chan struct{}, 1)
	w, err := a.WatchJoinGroup(ctx, group, func(tooz.MemberJoined) {
		select {
		case joined <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	testutil.Must(t, b.JoinGroup(ctx, group, nil), "b joins")
	select {
	case <-joined:
	case <-ctx.Done():
		t.Fatal("no join event")
	}
	leaders := make(chan string, 4)
	lw, err := a.WatchLeader(ctx, group, func(e tooz.LeaderChanged) {
		select {
		case leaders <- e.Leader:
		default: // the test has what it waits for
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lw.Stop)
	if _, err := b.Campaign(ctx, group); err != nil {
		t.Fatalf("b campaigns: %v", err)
	}
	for got := ""; got != "b"; {
		select {
		case got = <-leaders:
		case <-ctx.Done():
			t.Fatal("WatchLeader never reported b")
		}
	}
	if _, err := a.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}

	body := scrape(t, srv.URL)
	for _, want := range [][]string{
		{"tooz_wait_duration_seconds_bucket{", `tooz_operation="acquire"`, `tooz_name="` + lock + `"`, `tooz_result="acquired"`, `tooz_backend="redis"`},
		{"tooz_acquisitions_total{", `tooz_kind="lock"`, `tooz_result="not_acquired"`},
		{"tooz_acquisitions_total{", `tooz_operation="join"`, `tooz_kind="group"`, `tooz_result="acquired"`},
		{"tooz_acquisitions_total{", `tooz_operation="campaign"`, `tooz_kind="election"`},
		{"tooz_hold_duration_seconds_count{", `tooz_kind="lock"`, `tooz_cause="released"`},
		{"tooz_holding_ends_total{", `tooz_cause="released"`},
		{"tooz_heartbeat_duration_seconds_count{", `tooz_result="ok"`},
		{"tooz_leader_changes_total{", `tooz_name="` + group + `"`},
		{"tooz_event_lag_seconds_count{", `tooz_event="joined"`},
	} {
		if !hasSeries(body, want) {
			t.Errorf("no series %v in the scrape:\n%s", want, body)
		}
	}

	var names []string
	found := map[string]bool{}
	for _, sp := range spans.Ended() {
		names = append(names, sp.Name())
		for _, kv := range sp.Attributes() {
			if kv.Key == attribute.Key("tooz.backend") && kv.Value.AsString() == "redis" {
				found[sp.Name()] = true
			}
		}
	}
	for _, want := range []string{"tooz.acquire", "tooz.join", "tooz.campaign"} {
		if !found[want] {
			t.Errorf("no %s span with tooz.backend=redis; spans: %v", want, names)
		}
	}
}

// scrape returns the text the /metrics endpoint at url serves.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return string(b)
}

// hasSeries reports whether a line of body starts with want[0] and
// contains every other element of want.
func hasSeries(body string, want []string) bool {
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, want[0]) {
			continue
		}
		ok := true
		for _, w := range want[1:] {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return true
		}
	}
	return false
}
