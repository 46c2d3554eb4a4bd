// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

// Package all registers every built-in tooz driver: import it for its side
// effect when the backend is chosen by configuration.
//
//	import _ "github.com/toozgo/tooz/drivers/all"
package all

import (
	_ "github.com/toozgo/tooz/drivers/consul"     // consul://, consul+https://
	_ "github.com/toozgo/tooz/drivers/etcd"       // etcd://, etcd+https://
	_ "github.com/toozgo/tooz/drivers/file"       // file:///dir
	_ "github.com/toozgo/tooz/drivers/kubernetes" // k8s://
	_ "github.com/toozgo/tooz/drivers/memory"     // memory://name
	_ "github.com/toozgo/tooz/drivers/redis"      // redis://, rediss://, redis+sentinel://
	_ "github.com/toozgo/tooz/drivers/zookeeper"  // zookeeper://
)
