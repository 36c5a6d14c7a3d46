//go:build linux

package poolcheck

import (
	"net"

	"golang.org/x/sys/unix"

	"github.com/gpsntp/gpsntp/ntpserve"
)

// enableTimestamps asks for kernel receive timestamps, SO_TIMESTAMPNS_NEW
// (64-bit seconds on 32-bit ARM too; Linux 5.1) else the old one, as
// package upstream's client does (its enableTimestamps is unexported).
// false: neither (qemu-user); receive times are then read in user space.
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

// rxTimestamp is the kernel receive time (CLOCK_REALTIME ns) in a
// datagram's control messages, 0 if absent.
func rxTimestamp(oob []byte) int64 { return ntpserve.RxTimestamp(oob) }
