// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/kubernetes"
)

// A controller in a pod takes a lock kept by its own cluster's API server
// (in its own namespace, with the pod's service account bound to the Role
// in the package doc), and fences its writes with the token. Not run: it
// needs a cluster.
func Example() {
	ctx := context.Background()
	host, _ := os.Hostname()
	c, err := tooz.Open(ctx, "k8s://?namespace=billing", host, tooz.WithTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.Background())

	l := c.Lock("nightly-report")
	if err := l.Acquire(ctx); err != nil {
		log.Fatal(err)
	}
	defer l.Release(context.Background())
	log.Printf("writing the report with fencing token %d", l.FencingToken())
	select {
	case <-l.Lost():
		log.Print("lost the lock: stop writing")
	default:
	}
}
