package redis

import (
	"crypto/rand"
	"encoding/hex"
)

// unique returns a name no other test uses.
func unique(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}
