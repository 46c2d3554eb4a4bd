// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Command etcd runs a current etcd server (go.etcd.io/etcd/server/v3/embed)
// as its own process, so the tests can test against a current etcd while
// Debian only packages etcd 3.4. scripts/install-servers.sh builds it and
// internal/testserver starts it.
//
// It takes the subset of etcd's own flags, with the same names and meaning,
// that the tests use; anything else (auth, TLS, ...) can be given in an etcd
// YAML configuration file with -config-file, which then replaces all flags.
// SIGTERM or SIGINT stop the server gracefully and the process exits 0.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "etcd:", err)
		os.Exit(1)
	}
}

// urlsFlag is a comma-separated list of URLs, like etcd's own URL flags.
type urlsFlag struct {
	urls *[]url.URL
}

func (f urlsFlag) String() string {
	if f.urls == nil {
		return ""
	}
	s := make([]string, len(*f.urls))
	for i, u := range *f.urls {
		s[i] = u.String()
	}
	return strings.Join(s, ",")
}

func (f urlsFlag) Set(v string) error {
	var urls []url.URL
	for _, s := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("URL %q: scheme must be http or https", s)
		}
		urls = append(urls, *u)
	}
	*f.urls = urls
	return nil
}

// stringsFlag is a comma-separated list of strings.
type stringsFlag struct {
	s *[]string
}

func (f stringsFlag) String() string {
	if f.s == nil {
		return ""
	}
	return strings.Join(*f.s, ",")
}

func (f stringsFlag) Set(v string) error {
	*f.s = strings.Split(v, ",")
	return nil
}

func run(args []string) error {
	cfg := embed.NewConfig()
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	configFile := fs.String("config-file", "", "etcd YAML configuration file; when set, all other flags are ignored")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.StringVar(&cfg.Name, "name", cfg.Name, "human-readable name for this member")
	fs.StringVar(&cfg.Dir, "data-dir", cfg.Dir, "path to the data directory")
	fs.Var(urlsFlag{&cfg.ListenClientUrls}, "listen-client-urls", "URLs to listen on for client traffic")
	fs.Var(urlsFlag{&cfg.AdvertiseClientUrls}, "advertise-client-urls", "client URLs advertised to the cluster")
	fs.Var(urlsFlag{&cfg.ListenPeerUrls}, "listen-peer-urls", "URLs to listen on for peer traffic")
	fs.Var(urlsFlag{&cfg.AdvertisePeerUrls}, "initial-advertise-peer-urls", "peer URLs advertised to the cluster")
	fs.StringVar(&cfg.InitialCluster, "initial-cluster", "", "initial cluster, name=peerURL,...; default NAME=first advertised peer URL")
	fs.StringVar(&cfg.ClusterState, "initial-cluster-state", cfg.ClusterState, "new or existing")
	fs.StringVar(&cfg.InitialClusterToken, "initial-cluster-token", cfg.InitialClusterToken, "initial cluster token")
	fs.UintVar(&cfg.TickMs, "heartbeat-interval", cfg.TickMs, "heartbeat interval in milliseconds")
	fs.UintVar(&cfg.ElectionMs, "election-timeout", cfg.ElectionMs, "election timeout in milliseconds")
	fs.BoolVar(&cfg.UnsafeNoFsync, "unsafe-no-fsync", cfg.UnsafeNoFsync, "disable fsync (unsafe; tests only)")
	fs.Uint64Var(&cfg.SnapshotCount, "snapshot-count", cfg.SnapshotCount, "committed transactions that trigger a snapshot")
	fs.Int64Var(&cfg.QuotaBackendBytes, "quota-backend-bytes", cfg.QuotaBackendBytes, "backend size quota in bytes")
	fs.StringVar(&cfg.AutoCompactionMode, "auto-compaction-mode", cfg.AutoCompactionMode, "periodic or revision")
	fs.StringVar(&cfg.AutoCompactionRetention, "auto-compaction-retention", cfg.AutoCompactionRetention, "auto compaction retention")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn, error, panic or fatal")
	fs.Var(stringsFlag{&cfg.LogOutputs}, "log-outputs", "stdout, stderr or file paths, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *showVersion {
		fmt.Println("etcd (embed) server version", version.Version)
		return nil
	}
	if *configFile != "" {
		fileCfg, err := embed.ConfigFromFile(*configFile)
		if err != nil {
			return err
		}
		cfg = fileCfg
	} else {
		if cfg.InitialCluster == "" {
			cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		// Like etcd: listening on explicit client URLs without advertising
		// any means advertising those same URLs.
		if set["listen-client-urls"] && !set["advertise-client-urls"] {
			cfg.AdvertiseClientUrls = cfg.ListenClientUrls
		}
	}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return err
	case sig := <-sigs:
		e.Close()
		return fmt.Errorf("%v before the server was ready", sig)
	}

	select {
	case sig := <-sigs:
		cfg.GetLogger().Sugar().Infof("received %v, shutting down", sig)
		done := make(chan struct{})
		go func() { e.Close(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(10 * time.Second):
			return fmt.Errorf("graceful stop after %v timed out", sig)
		case <-sigs:
			return fmt.Errorf("second signal, stopping now")
		}
	case err := <-e.Err():
		e.Close()
		return err
	case <-e.Server.StopNotify():
		return fmt.Errorf("server stopped unexpectedly")
	}
}
