// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package otel records what a tooz Coordinator does as OpenTelemetry
// metrics and spans. The tooz core depends on no telemetry library: it
// reports to a tooz.Observer, and New returns one.
//
//	obs, err := otel.New(otel.WithMeterProvider(mp), otel.WithTracerProvider(tp))
//	...
//	c, err := tooz.Open(ctx, url, member, tooz.WithObserver(obs))
//
// Without providers it uses the global ones (go.opentelemetry.io/otel's
// GetMeterProvider and GetTracerProvider). See the example for a
// Prometheus /metrics endpoint through the OpenTelemetry Prometheus
// exporter.
//
// # Metrics
//
// Durations are histograms in seconds, with bucket bounds from 0.5 ms to
// 5 min. Every instrument carries tooz.backend, the URL scheme (etcd,
// consul, zookeeper, redis, file, memory).
//
//	name                      type       unit  attributes beside tooz.backend
//	tooz.wait.duration        histogram  s     tooz.operation, tooz.kind, tooz.result [, tooz.name]
//	tooz.acquisitions         counter    1     tooz.operation, tooz.kind, tooz.result
//	tooz.hold.duration        histogram  s     tooz.kind, tooz.cause [, tooz.name]
//	tooz.holding.ends         counter    1     tooz.kind, tooz.cause
//	tooz.heartbeat.duration   histogram  s     tooz.result
//	tooz.heartbeat.failures   counter    1     -
//	tooz.heartbeat.late       counter    1     -
//	tooz.session.losses       counter    1     -
//	tooz.leader.changes       counter    1     [tooz.name]
//	tooz.event.lag            histogram  s     tooz.event
//
// What each one measures:
//
//   - tooz.wait.duration: how long an acquisition (Acquire, TryAcquire of a
//     lock, semaphore permit or read/write lock), a campaign or a group join
//     took, until it succeeded, found the resource taken or failed.
//   - tooz.acquisitions: the same operations, counted.
//   - tooz.hold.duration: how long a lock, permit, read/write lock or
//     leadership was held, from its acquisition to its end.
//   - tooz.holding.ends: holdings that ended, by cause: the losses
//     (session_lost, revoked) and the rest (released, closed).
//   - tooz.heartbeat.duration: the round trip of each liveness renewal.
//   - tooz.heartbeat.failures: renewals that failed (the liveness may
//     still stand; after the timeout it is lost).
//   - tooz.heartbeat.late: renewals the heart started more than half an
//     interval late (a starved process).
//   - tooz.session.losses: times this member's liveness expired.
//   - tooz.leader.changes: leader changes seen by WatchLeader.
//   - tooz.event.lag: from a change reaching the Coordinator to its event
//     being handed to a watch hook (a slow hook delays the next ones).
//
// Attribute values:
//
//   - tooz.operation: acquire, campaign, join.
//   - tooz.kind: lock, semaphore, rwlock, election, group.
//   - tooz.result: acquired (or elected, joined), not_acquired (held by
//     another: a try, or a wait whose context ended), error; for
//     heartbeats ok, failed or session_lost.
//   - tooz.cause: released (Release, Resign, StandDown, a preemption),
//     closed (Close), session_lost (the member's liveness expired), revoked
//     (the backend no longer recorded the owner: deleted out of band, or
//     expired on a lock TTL of its own).
//   - tooz.event: joined, left, updated, elected, leadership_lost, members.
//   - tooz.name: the lock, semaphore, read/write lock or group name — only
//     with WithNames, as every name is a time series of its own.
//
// # Spans
//
// Acquisitions, campaigns and joins are spans named tooz.acquire,
// tooz.campaign and tooz.join, children of the caller's span, with the
// attributes tooz.backend, tooz.kind, tooz.name (spans always name their
// target), tooz.wait (false for a try) and tooz.result. A failure is
// recorded as the span's error; not_acquired is a result, not an error.
package otel

import (
	"context"
	"errors"
	"time"

	otelapi "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/toozgo/tooz"
)

// scope is the instrumentation scope of the meter and the tracer.
const scope = "github.com/toozgo/tooz/otel"

// Attribute keys.
const (
	keyBackend   = attribute.Key("tooz.backend")
	keyOperation = attribute.Key("tooz.operation")
	keyKind      = attribute.Key("tooz.kind")
	keyResult    = attribute.Key("tooz.result")
	keyCause     = attribute.Key("tooz.cause")
	keyName      = attribute.Key("tooz.name")
	keyEvent     = attribute.Key("tooz.event")
	keyWait      = attribute.Key("tooz.wait")
)

// buckets are the duration histograms' bounds, in seconds.
var buckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// Option configures New.
type Option func(*config)

type config struct {
	mp    metric.MeterProvider
	tp    trace.TracerProvider
	names bool
}

// WithMeterProvider records the metrics with mp instead of the global
// meter provider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithTracerProvider records the spans with tp instead of the global
// tracer provider.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithNames adds the lock, semaphore, read/write lock or group name
// (tooz.name) to the metrics that concern one. Each name is then a time
// series of its own: use it when the names are few and fixed.
func WithNames() Option { return func(c *config) { c.names = true } }

// Observer is a tooz.Observer that records OpenTelemetry metrics and spans.
// One Observer may serve any number of Coordinators.
type Observer struct {
	tracer trace.Tracer
	names  bool

	wait          metric.Float64Histogram
	acquisitions  metric.Int64Counter
	hold          metric.Float64Histogram
	ends          metric.Int64Counter
	beat          metric.Float64Histogram
	beatFailures  metric.Int64Counter
	beatLate      metric.Int64Counter
	sessionLosses metric.Int64Counter
	leaderChanges metric.Int64Counter
	lag           metric.Float64Histogram
}

var _ tooz.Observer = (*Observer)(nil)

// New returns an Observer recording with the configured providers. It
// fails only when the meter provider refuses an instrument.
func New(opts ...Option) (*Observer, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.mp == nil {
		cfg.mp = otelapi.GetMeterProvider()
	}
	if cfg.tp == nil {
		cfg.tp = otelapi.GetTracerProvider()
	}
	m := cfg.mp.Meter(scope)
	o := &Observer{tracer: cfg.tp.Tracer(scope), names: cfg.names}
	var errs []error
	hist := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(buckets...))
		errs = append(errs, err)
		return h
	}
	count := func(name, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit("1"), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	o.wait = hist("tooz.wait.duration", "How long an acquisition, campaign or join took.")
	o.acquisitions = count("tooz.acquisitions", "Acquisitions, campaigns and joins, by result.")
	o.hold = hist("tooz.hold.duration", "How long a lock, permit, read/write lock or leadership was held.")
	o.ends = count("tooz.holding.ends", "Holdings that ended, by cause.")
	o.beat = hist("tooz.heartbeat.duration", "The round trip of each liveness renewal.")
	o.beatFailures = count("tooz.heartbeat.failures", "Liveness renewals that failed.")
	o.beatLate = count("tooz.heartbeat.late", "Liveness renewals started more than half an interval late.")
	o.sessionLosses = count("tooz.session.losses", "Times the member's liveness expired.")
	o.leaderChanges = count("tooz.leader.changes", "Leader changes seen by WatchLeader.")
	o.lag = hist("tooz.event.lag", "From a change reaching the Coordinator to its event reaching a watch hook.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return o, nil
}

// Begin implements tooz.Observer: a span, and on its end the wait
// histogram and the acquisitions counter.
func (o *Observer) Begin(ctx context.Context, op tooz.Operation) (context.Context, func(error)) {
	start := time.Now()
	ctx, span := o.tracer.Start(ctx, "tooz."+op.Name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(keyBackend.String(op.Backend), keyKind.String(op.Kind), keyName.String(op.Target), keyWait.Bool(op.Wait)))
	return ctx, func(err error) {
		res := result(err)
		attrs := []attribute.KeyValue{keyBackend.String(op.Backend), keyOperation.String(op.Name), keyKind.String(op.Kind), keyResult.String(res)}
		o.acquisitions.Add(context.Background(), 1, metric.WithAttributes(attrs...))
		if o.names {
			attrs = append(attrs, keyName.String(op.Target))
		}
		o.wait.Record(context.Background(), time.Since(start).Seconds(), metric.WithAttributes(attrs...))
		span.SetAttributes(keyResult.String(res))
		if res == "error" {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// result names an operation's outcome for tooz.result.
func result(err error) string {
	switch {
	case err == nil:
		return "acquired"
	case errors.Is(err, tooz.ErrNotAcquired):
		return "not_acquired"
	}
	return "error"
}

// HoldingEnded implements tooz.Observer.
func (o *Observer) HoldingEnded(e tooz.HoldingEnd) {
	attrs := []attribute.KeyValue{keyBackend.String(e.Backend), keyKind.String(e.Kind), keyCause.String(e.Cause)}
	o.ends.Add(context.Background(), 1, metric.WithAttributes(attrs...))
	if o.names {
		attrs = append(attrs, keyName.String(e.Target))
	}
	o.hold.Record(context.Background(), e.Held.Seconds(), metric.WithAttributes(attrs...))
}

// Beat implements tooz.Observer.
func (o *Observer) Beat(b tooz.BeatInfo) {
	ctx := context.Background()
	backend := metric.WithAttributes(keyBackend.String(b.Backend))
	res := "ok"
	switch {
	case errors.Is(b.Err, tooz.ErrSessionLost):
		res = "session_lost"
	case b.Err != nil:
		res = "failed"
		o.beatFailures.Add(ctx, 1, backend)
	}
	if b.Late {
		o.beatLate.Add(ctx, 1, backend)
	}
	o.beat.Record(ctx, b.Duration.Seconds(), metric.WithAttributes(keyBackend.String(b.Backend), keyResult.String(res)))
}

// SessionLost implements tooz.Observer.
func (o *Observer) SessionLost(backend string) {
	o.sessionLosses.Add(context.Background(), 1, metric.WithAttributes(keyBackend.String(backend)))
}

// LeaderChanged implements tooz.Observer.
func (o *Observer) LeaderChanged(backend, group, _ string) {
	attrs := []attribute.KeyValue{keyBackend.String(backend)}
	if o.names {
		attrs = append(attrs, keyName.String(group))
	}
	o.leaderChanges.Add(context.Background(), 1, metric.WithAttributes(attrs...))
}

// Delivered implements tooz.Observer.
func (o *Observer) Delivered(backend, kind string, lag time.Duration) {
	o.lag.Record(context.Background(), lag.Seconds(), metric.WithAttributes(keyBackend.String(backend), keyEvent.String(kind)))
}
