//go:build linux

package ntpserve

import (
	"encoding/binary"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reading and writing what travels beside a datagram (its addresses and
// control messages) on the packet path, without allocating.

// sockaddrAddr returns the address of a received sockaddr, refusing source
// port 0 (nothing can be sent back to it).
func sockaddrAddr(sa *unix.RawSockaddrInet6, namelen uint32) (netip.Addr, bool) {
	switch sa.Family {
	case unix.AF_INET:
		if namelen < unix.SizeofSockaddrInet4 {
			return netip.Addr{}, false
		}
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		if s4.Port == 0 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4(s4.Addr), true
	case unix.AF_INET6:
		if namelen < unix.SizeofSockaddrInet6 || sa.Port == 0 {
			return netip.Addr{}, false
		}
		return netip.AddrFrom16(sa.Addr).Unmap(), true
	}
	return netip.Addr{}, false
}

// EnableRxTimestamps asks the kernel to stamp every datagram c receives:
// SO_TIMESTAMPNS_NEW (64-bit seconds on 32-bit ARM too; Linux 5.1), else
// the old struct timespec. false: neither (qemu-user); receive times must
// then be read in user space. For the NTP clients (package upstream,
// poolcheck), which read replies as the server reads requests; read the
// time with RxTimestamp.
func EnableRxTimestamps(c *net.UDPConn) bool {
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

// RxTimestamp returns the kernel receive time (CLOCK_REALTIME ns) in a
// datagram's control messages from a socket with SO_TIMESTAMPNS or
// SO_TIMESTAMPING, 0 if absent.
func RxTimestamp(oob []byte) int64 {
	rxNs, _, _, _ := parseControl(oob)
	return rxNs
}

// parseControl walks the control messages of one datagram without
// allocating (unix.ParseSocketControlMessage allocates) and returns the
// kernel receive time (CLOCK_REALTIME ns, 0 if absent; from SO_TIMESTAMPNS
// or SO_TIMESTAMPING, whose software timestamp on an error queue message
// is the transmit time) and the request's
// destination address and interface (IP_PKTINFO/IPV6_PKTINFO).
func parseControl(b []byte) (rxNs int64, dst [16]byte, ifindex uint32, haveDst bool) {
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
			// struct __kernel_timespec: two 64-bit words.
			sec := int64(binary.NativeEndian.Uint64(data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(data[8:16]))
			rxNs = sec*nsPerSecond + nsec
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPING_NEW && len(data) >= 16:
			// struct scm_timestamping64: three __kernel_timespec, the
			// software timestamp first (the others are hardware).
			sec := int64(binary.NativeEndian.Uint64(data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(data[8:16]))
			rxNs = sec*nsPerSecond + nsec
		case h.Level == unix.SOL_SOCKET && (h.Type == unix.SO_TIMESTAMPNS_OLD || h.Type == unix.SO_TIMESTAMPING_OLD) &&
			len(data) >= int(unsafe.Sizeof(unix.Timespec{})):
			// A native struct timespec, or struct scm_timestamping whose
			// first is the software timestamp.
			ts := (*unix.Timespec)(unsafe.Pointer(&data[0]))
			rxNs = int64(ts.Sec)*nsPerSecond + int64(ts.Nsec)
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			copy(dst[:4], pi.Addr[:])
			ifindex = uint32(pi.Ifindex)
			haveDst = true
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			dst = pi.Addr
			ifindex = pi.Ifindex
			haveDst = true
		}
		next := unix.CmsgSpace(l - hdrLen)
		if next > len(b) {
			break
		}
		b = b[next:]
	}
	return rxNs, dst, ifindex, haveDst
}

// putPktinfo writes a pktinfo control message that makes the reply leave
// from dst (the request's destination) and returns its length.
func putPktinfo(b []byte, v6 bool, dst [16]byte, ifindex uint32) int {
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	data := b[unix.CmsgLen(0):]
	if v6 {
		h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
		pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
		pi.Addr = dst
		pi.Ifindex = ifindex // needed for link-local addresses
		return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
	}
	h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
	pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
	copy(pi.Spec_dst[:], dst[:4]) // source address; routing picks the interface
	return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
}
