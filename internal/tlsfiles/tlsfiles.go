// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package tlsfiles builds a client tls.Config from the ca, cert and key
// URL options that the TLS schemes of the built-in drivers share.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/toozgo/tooz"
)

// Load reads the optional CA file (trusted instead of the system roots) and
// the optional client certificate and key. Errors wrap tooz.ErrInvalidURL
// and name only the option and the file, never file contents.
func Load(ca, cert, key string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("%w: options cert and key go together", tooz.ErrInvalidURL)
	}
	if ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%w: option ca: %v", tooz.ErrInvalidURL, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%w: option ca: %s holds no PEM certificate", tooz.ErrInvalidURL, ca)
		}
		c.RootCAs = pool
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%w: options cert and key: %v", tooz.ErrInvalidURL, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
