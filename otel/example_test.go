// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package otel_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/memory"
	"github.com/toozgo/tooz/otel"
)

// A Coordinator's metrics on a Prometheus /metrics endpoint, through the
// OpenTelemetry Prometheus exporter. A real service would serve the
// handler with http.Handle("/metrics", ...) on its own listener.
func Example() {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer func() { _ = mp.Shutdown(ctx) }()
	obs, err := otel.New(otel.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	c, err := tooz.Open(ctx, "memory://example-otel", "worker-1", tooz.WithObserver(obs))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = c.Close(ctx) }()
	l := c.Lock("nightly-report")
	if err := l.Acquire(ctx); err != nil {
		log.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		log.Fatal(err)
	}

	resp, err := http.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "tooz_acquisitions_total{") && strings.Contains(line, `tooz_result="acquired"`) {
			fmt.Println("acquisitions:", line[strings.LastIndex(line, " ")+1:])
		}
		if strings.HasPrefix(line, "tooz_hold_duration_seconds_count{") && strings.Contains(line, `tooz_cause="released"`) {
			fmt.Println("holdings released:", line[strings.LastIndex(line, " ")+1:])
		}
	}
	// Output:
	// acquisitions: 1
	// holdings released: 1
}
