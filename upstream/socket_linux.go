//go:build linux

package upstream

import (
	"encoding/binary"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// enableTimestamps asks for SO_TIMESTAMPNS_NEW (64-bit seconds on 32-bit
// ARM too; Linux 5.1), else the old struct timespec, as ntpserve does.
// false: neither (qemu-user), receive times are read in user space.
func enableTimestamps(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, 1) == nil ||
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_OLD, 1) == nil {
			ok = true
		}
	})
	return ok
}

// rxTimestamp returns the kernel receive time (CLOCK_REALTIME ns) in a
// datagram's control messages, 0 if absent. The walk is ntpserve's
// parseControl (cmsg_linux.go), cut down to the timestamp.
func rxTimestamp(b []byte) int64 {
	hdrLen := unix.CmsgLen(0)
	for len(b) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < hdrLen || l > len(b) {
			break
		}
		data := b[hdrLen:l]
		switch {
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS_NEW && len(data) >= 16:
			sec := int64(binary.NativeEndian.Uint64(data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(data[8:16]))
			return sec*1e9 + nsec
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS_OLD && len(data) >= int(unsafe.Sizeof(unix.Timespec{})):
			ts := (*unix.Timespec)(unsafe.Pointer(&data[0]))
			return int64(ts.Sec)*1e9 + int64(ts.Nsec)
		}
		next := unix.CmsgSpace(l - hdrLen)
		if next > len(b) {
			break
		}
		b = b[next:]
	}
	return 0
}
