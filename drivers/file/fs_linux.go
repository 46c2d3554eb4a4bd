// Copyright 2026 The tooz for Go Authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package file

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/toozgo/tooz"
)

// remoteFS names the filesystem types on which flock(2) is emulated per
// process (or not shared between clients) and inotify misses other clients'
// changes.
var remoteFS = map[uint32]string{
	0x6969:     "NFS",
	0x517B:     "SMB",
	0xFF534D42: "CIFS",
	0xFE534D42: "SMB2",
	0x00C36400: "Ceph",
	0x0BD00BD0: "Lustre",
	0x01161970: "GFS2",
	0x7461636F: "OCFS2",
}

// checkLocalFS refuses a directory on a network filesystem.
func checkLocalFS(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return ioErr("statfs", err)
	}
	if name, ok := remoteFS[uint32(st.Type)]; ok {
		return fmt.Errorf("%w: %s is on %s: the file driver needs a local filesystem (flock and inotify are host-local)", tooz.ErrNotSupported, dir, name)
	}
	return nil
}
