//go:build linux

package ntpserve

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// addrInUseError is bind's EADDRINUSE said for an operator: the usual
// cause is a second gpsntpd or another NTP server on the machine.
type addrInUseError struct{ ap netip.AddrPort }

func (e addrInUseError) Error() string {
	return fmt.Sprintf("ntpserve: listen %s: address in use by another process (another gpsntpd or an NTP daemon?)", e.ap)
}

func (e addrInUseError) Unwrap() error { return unix.EADDRINUSE }

// udpSocket is one bound socket, ready for a worker.
type udpSocket struct {
	fd   int
	addr netip.AddrPort // bound address, port resolved
	// userStamps: the kernel refused SO_TIMESTAMPNS (qemu-user), so
	// receive times are read in user space (see Server.KernelTimestamps).
	userStamps bool
	// txStamps: SO_TIMESTAMPING is on, so a reply can ask for its kernel
	// transmit timestamp (see txstamp_linux.go).
	txStamps bool
}

// listenUDP opens and binds one blocking SO_REUSEPORT socket with big
// buffers, receive timestamps and, on a wildcard address, the request's
// destination address (see setPacketInfo). IPv6 sockets are IPv6-only, so
// "0.0.0.0:123" and "[::]:123" can both be served.
//
// One daemon per address: SO_REUSEPORT lets any socket of the same
// effective uid that also sets it share the address, and the kernel then
// spreads requests over both processes (clients get one daemon's time,
// then the other's). So the first socket of an address (claim) is bound
// without SO_REUSEPORT: the bind fails if any socket at all holds the
// address or overlaps it (a wildcard, a dual-stack IPv6 socket), with or
// without the option. SO_REUSEPORT is set on it after the bind, which
// Linux allows: the next worker's bind then forms the group with it
// (udp_reuseport_add_sock allocates the first socket's group). A second
// gpsntpd's claim fails the same way against ours. What remains open is
// a process that deliberately sets SO_REUSEPORT under our uid after we
// started; nothing short of giving up SO_REUSEPORT closes that.
//
// The socket is not registered with Go's network poller: its worker
// decides when it is (see worker) and sets O_NONBLOCK accordingly.
func listenUDP(ap netip.AddrPort, bufBytes int, claim bool) (udpSocket, error) {
	fail := func(op string, err error) (udpSocket, error) {
		return udpSocket{}, fmt.Errorf("ntpserve: listen %s: %s: %w", ap, op, err)
	}
	family := unix.AF_INET
	if ap.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return fail("socket", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if !claim {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt(SO_REUSEPORT)", err)
		}
	}
	setBuffers(fd, bufBytes)
	if op, err := setAddressOptions(fd, ap.Addr().Is6()); err != nil {
		return fail(op, err)
	}
	userStamps, txStamps, op, err := setPacketInfo(fd, ap.Addr().Is6(), ap.Addr().IsUnspecified())
	if err != nil {
		return fail(op, err)
	}
	sa, err := sockaddrOf(ap)
	if err != nil {
		return fail("zone "+ap.Addr().Zone(), err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return udpSocket{}, addrInUseError{ap}
		}
		return fail("bind", err)
	}
	if claim {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt(SO_REUSEPORT)", err)
		}
	}
	la, err := boundAddr(fd, ap.Addr().Zone())
	if err != nil {
		return fail("getsockname", err)
	}
	ok = true
	return udpSocket{fd: fd, addr: la, userStamps: userStamps, txStamps: txStamps}, nil
}

// setBuffers sets SO_RCVBUF and SO_SNDBUF, best effort: *BUFFORCE needs
// CAP_NET_ADMIN, the plain options are capped at net.core.[rw]mem_max.
func setBuffers(fd, bufBytes int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bufBytes) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bufBytes)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, bufBytes) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, bufBytes)
	}
}

// setAddressOptions sets the per-family options; on failure it returns
// the option's name.
func setAddressOptions(fd int, v6 bool) (string, error) {
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return "setsockopt(IPV6_V6ONLY)", err
		}
		return "", nil
	}
	// Replies are atomic datagrams (RFC 6864): 48 bytes with DF set never
	// need fragmenting, and carry IP ID 0 instead of one from the kernel's
	// shared hashed counters (__ip_select_ident): a little less work per
	// reply and no ID side channel.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
		return "setsockopt(IP_MTU_DISCOVER)", err
	}
	return "", nil
}

// setPacketInfo asks for what the worker reads with each datagram (its
// kernel receive time; on a wildcard socket its destination address),
// enables kernel transmit timestamps where it can, and bounds a blocking
// receive to busyWait. It reports userStamps when the kernel has no
// receive timestamps and txStamps when replies can ask for transmit
// timestamps; on failure it returns the option's name.
func setPacketInfo(fd int, v6, wildcard bool) (userStamps, txStamps bool, op string, err error) {
	// Kernel timestamps through SO_TIMESTAMPING: software receive
	// timestamps on every datagram, and the reporting flag that lets a
	// reply ask for its software transmit timestamp with a control message
	// (SOF_TIMESTAMPING_TX_SOFTWARE per message, Linux 4.13), read back
	// from the error queue. Only the replies that need one ask: interleaved
	// clients' and the calibration samples (see txstamp_linux.go). The
	// _NEW option (Linux 5.1) carries 64-bit seconds on 32-bit ARM too (no
	// 2038 problem); older kernels get the native struct timespec.
	//
	// Without SO_TIMESTAMPING, SO_TIMESTAMPNS still gives receive
	// timestamps (no interleaved mode; transmit timestamps are predicted
	// from defaults). Where neither exists (qemu-user emulation answers
	// ENOPROTOOPT) the receive time is read in user space after recvmmsg:
	// later by the queueing and wakeup latency, so worse, but not wrong.
	// The server says so (Server.KernelTimestamps) rather than refusing to
	// run.
	const tsFlags = unix.SOF_TIMESTAMPING_SOFTWARE | unix.SOF_TIMESTAMPING_RX_SOFTWARE
	switch {
	case unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING_NEW, tsFlags) == nil,
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING_OLD, tsFlags) == nil:
		txStamps = true
	case unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, 1) == nil:
	default:
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_OLD, 1); err != nil {
			if !errors.Is(err, unix.ENOPROTOOPT) {
				return false, false, "setsockopt(SO_TIMESTAMPNS)", err
			}
			userStamps = true
		}
	}
	// Only a blocking recvmmsg waits, and never longer than busyWait.
	tv := unix.NsecToTimeval(busyWait.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return false, false, "setsockopt(SO_RCVTIMEO)", err
	}
	if !wildcard {
		return userStamps, txStamps, "", nil
	}
	// On a wildcard socket the kernel would pick the reply's source address
	// by routing, which on a host with several addresses (IPv6 SLAAC and
	// privacy addresses above all) is often not the address the client
	// asked; clients drop such replies. Learn the request's destination and
	// send from it (putPktinfo).
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
			return false, false, "setsockopt(IPV6_RECVPKTINFO)", err
		}
	} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		return false, false, "setsockopt(IP_PKTINFO)", err
	}
	return userStamps, txStamps, "", nil
}

// sockaddrOf converts ap for bind; an IPv6 zone is an interface name or
// index.
func sockaddrOf(ap netip.AddrPort) (unix.Sockaddr, error) {
	if !ap.Addr().Is6() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, nil
	}
	s6 := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if z := ap.Addr().Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			s6.ZoneId = uint32(ifi.Index)
		} else if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			s6.ZoneId = uint32(n)
		} else {
			return nil, err
		}
	}
	return s6, nil
}

// boundAddr returns the address fd is bound to (the port the kernel chose
// for port 0), with zone kept as given.
func boundAddr(fd int, zone string) (netip.AddrPort, error) {
	got, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).WithZone(zone), uint16(a.Port)), nil
	}
	return netip.AddrPort{}, nil
}
