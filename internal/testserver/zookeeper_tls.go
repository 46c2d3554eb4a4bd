// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package testserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ZooKeeperTLS names the PEM files of a TLS ZooKeeper server
// (StartZooKeeperTLS).
type ZooKeeperTLS struct {
	// CA is the trust store: it signs the client certificates the server
	// accepts and, for the readiness probe, the server's own certificate.
	CA string
	// Cert and Key are the server's certificate and private key (PKCS#1,
	// SEC 1 or PKCS#8 PEM; the key is rewritten as PKCS#8 for ZooKeeper).
	Cert, Key string
	// ClientCert and ClientKey, when set, make the server require a client
	// certificate signed by CA (ssl.clientAuth=need); the probe uses them.
	// Without them the server asks for none (ssl.clientAuth=none).
	ClientCert, ClientKey string
}

// Debian's netty jars that the Netty connection factory needs and
// zookeeper.jar's manifest does not name.
var debianNettyExtras = []string{"/usr/share/java/netty-codec.jar", "/usr/share/java/netty-resolver.jar"}

// StartZooKeeperTLS starts a standalone ZooKeeper like StartZooKeeper,
// except that it serves clients only over TLS: the Netty connection factory
// (ZooKeeper's only TLS-capable one) listens on secureClientPort, which is
// Addr, and there is no plain client port. Key store and trust store are
// PEM files (ZooKeeper 3.8 reads them directly; no keytool). It waits until
// the "srvr" four-letter word over TLS names the server's mode.
func StartZooKeeperTLS(t testing.TB, files ZooKeeperTLS, opts ...Option) *Server {
	t.Helper()
	java, classpath := zooKeeperRuntime(t)
	if os.Getenv("TOOZ_ZK_CLASSPATH") == "" {
		for _, j := range debianNettyExtras {
			if _, err := os.Stat(j); err == nil {
				classpath += ":" + j
			}
		}
	}
	return start(t, &backend{
		name:   "zookeeper-tls",
		nports: 1,
		command: func(s *Server) (string, []string, error) {
			keyStore := filepath.Join(s.workDir, "keystore.pem")
			if err := writePEMKeyStore(keyStore, files.Cert, files.Key); err != nil {
				return "", nil, err
			}
			cfgPath, err := writeZooCfg(s, true)
			if err != nil {
				return "", nil, err
			}
			auth := "none"
			if files.ClientCert != "" {
				auth = "need"
			}
			return java, zooKeeperStandaloneArgs(classpath, cfgPath,
				"-Dzookeeper.serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
				"-Dzookeeper.ssl.keyStore.location="+keyStore,
				"-Dzookeeper.ssl.keyStore.type=PEM",
				"-Dzookeeper.ssl.trustStore.location="+files.CA,
				"-Dzookeeper.ssl.trustStore.type=PEM",
				"-Dzookeeper.ssl.clientAuth="+auth,
			), nil
		},
		probe: func(ctx context.Context, s *Server) error {
			cfg, err := probeTLSConfig(files.CA, files.ClientCert, files.ClientKey)
			if err != nil {
				return err
			}
			reply, err := tlsExchange(ctx, s.Addr, cfg, "srvr", false)
			if err != nil {
				return err
			}
			if !strings.Contains(reply, "Mode: ") {
				return fmt.Errorf("srvr answered %q", strings.TrimSpace(reply))
			}
			return nil
		},
	}, opts)
}

// writePEMKeyStore writes ZooKeeper's PEM key store: the private key as
// PKCS#8 (the only form ZooKeeper's PEM reader takes for every key type)
// followed by the certificate chain.
func writePEMKeyStore(path, certFile, keyFile string) error {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return fmt.Errorf("%s holds no PEM block", keyFile)
	}
	var key any
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return fmt.Errorf("%s: unsupported PEM block %q", keyFile, block.Type)
	}
	if err != nil {
		return fmt.Errorf("%s: %v", keyFile, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	out := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), certPEM...)
	return os.WriteFile(path, out, 0o600)
}

// probeTLSConfig is the client configuration of a TLS readiness probe: it
// trusts ca and presents the client certificate when there is one.
func probeTLSConfig(ca, cert, key string) (*tls.Config, error) {
	pemCA, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return nil, fmt.Errorf("%s holds no PEM certificate", ca)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// tlsExchange is tcpExchange over TLS.
func tlsExchange(ctx context.Context, addr string, cfg *tls.Config, req string, firstLine bool) (string, error) {
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		return "", err
	}
	buf := make([]byte, 0, 4096)
	for {
		chunk := make([]byte, 4096)
		n, err := conn.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if firstLine && strings.Contains(string(buf), "\n") {
			return string(buf), nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return string(buf), nil
			}
			return string(buf), err
		}
		if len(buf) > 64<<10 {
			return string(buf), nil
		}
	}
}
