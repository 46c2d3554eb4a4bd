package main

// The drivers this command can use. The lead replaces this list with
// github.com/toozgo/tooz/drivers/all once every driver has landed.
import (
	_ "github.com/toozgo/tooz/drivers/consul"
	_ "github.com/toozgo/tooz/drivers/etcd"
	_ "github.com/toozgo/tooz/drivers/file"
	_ "github.com/toozgo/tooz/drivers/memory"
	_ "github.com/toozgo/tooz/drivers/redis"
	_ "github.com/toozgo/tooz/drivers/zookeeper"
)
