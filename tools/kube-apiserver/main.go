// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Command kube-apiserver is the Kubernetes API server of k8s.io/kubernetes,
// built from its Go module so that the tests of drivers/kubernetes run
// against a real API server (backed by the etcd the project already builds)
// rather than a fake clientset. scripts/install-servers.sh builds it and
// internal/testserver starts it. It takes kube-apiserver's own flags.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
