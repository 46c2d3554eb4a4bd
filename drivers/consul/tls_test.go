// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package consul

import (
	"fmt"
	"net"
	"net/url"
	"testing"

	"github.com/toozgo/tooz/conformance"
	"github.com/toozgo/tooz/internal/testserver"
	"github.com/toozgo/tooz/internal/testutil"
)

// TestTLSConformance runs the whole suite over consul+https against an
// agent that requires client certificates (the set-up of TestTLS).
func TestTLSConformance(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	httpsAddr := testutil.ClosedPort(t)
	_, port, _ := net.SplitHostPort(httpsAddr)
	testserver.StartConsul(t, testserver.WithArgs(
		"-hcl", "ports { https = "+port+" }",
		"-hcl", fmt.Sprintf(`tls { defaults { ca_file = %q, cert_file = %q, key_file = %q }, https { verify_incoming = true } }`,
			pki.ca, pki.serverCert, pki.serverKey),
	))
	h := harness{conformance.URLHarness{
		URL: "consul+https://" + httpsAddr + "?namespace=" + testutil.Unique("tlsconf") +
			"&ca=" + url.QueryEscape(pki.ca) + "&cert=" + url.QueryEscape(pki.clientCert) + "&key=" + url.QueryEscape(pki.clientKey),
		LivenessTimeout: testTimeout,
	}}
	conformance.Run(t, h)
}
