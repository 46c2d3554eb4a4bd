// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

package all_test

import (
	"slices"
	"testing"

	"github.com/toozgo/tooz"
	_ "github.com/toozgo/tooz/drivers/all"
)

func TestEverySchemeRegistered(t *testing.T) {
	want := []string{"consul", "consul+https", "etcd", "etcd+https", "file", "k8s", "memory", "redis", "redis+sentinel", "rediss", "zookeeper", "zookeeper+tls"}
	if got := tooz.Schemes(); !slices.Equal(got, want) {
		t.Fatalf("Schemes() = %q, want %q", got, want)
	}
}
