//go:build linux

package ntpserve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// rxBufLen bounds what is read of a request: only the header matters,
	// longer datagrams are truncated (their real length is still ≥ 48, so
	// the reply is never larger than the request).
	rxBufLen = 256
	// ctrlLen holds a timestamp cmsg (16 + 16) and an IPv6 pktinfo cmsg
	// (16 + 20, aligned to 24) with room to spare.
	ctrlLen = 128
)

func (s *Server) open(cfg Config) error {
	aps, err := splitListen(cfg.Listen)
	if err != nil {
		return err
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	bufBytes := cfg.SocketBuffer
	if bufBytes <= 0 {
		bufBytes = defaultSocketBuffer
	}
	for _, ap := range aps {
		bound := ap
		for i := range workers {
			uc, err := listenUDP(bound, bufBytes)
			if err != nil {
				return err
			}
			s.conns = append(s.conns, uc)
			if i == 0 {
				// Port 0: the other workers join the port the first got.
				la := uc.LocalAddr().(*net.UDPAddr).AddrPort()
				bound = netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
				s.addrs = append(s.addrs, bound)
			}
			w, err := newWorker(&s.h, uc, ap.Addr().Is6(), ap.Addr().IsUnspecified(), s.batch)
			if err != nil {
				return fmt.Errorf("ntpserve: listen %s: %w", ap, err)
			}
			s.workers = append(s.workers, w)
		}
	}
	return nil
}

// listenUDP opens one SO_REUSEPORT socket with big buffers. IPv6 sockets
// are IPv6-only (Go sets IPV6_V6ONLY for "udp6"), so "0.0.0.0:123" and
// "[::]:123" can both be served.
func listenUDP(ap netip.AddrPort, bufBytes int) (*net.UDPConn, error) {
	network := "udp4"
	if ap.Addr().Is6() {
		network = "udp6"
	}
	var serr error
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		err := c.Control(func(fd uintptr) {
			if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
				serr = fmt.Errorf("setsockopt(SO_REUSEPORT): %w", err)
				return
			}
			// Best effort: *BUFFORCE needs CAP_NET_ADMIN, the plain
			// options are capped at net.core.[rw]mem_max.
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bufBytes) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, bufBytes)
			}
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, bufBytes) != nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, bufBytes)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, ap.String())
	if err != nil {
		return nil, fmt.Errorf("ntpserve: listen %s: %w", ap, err)
	}
	return pc.(*net.UDPConn), nil
}

// worker serves one socket with recvmmsg/sendmmsg on buffers allocated
// once: the steady state allocates nothing.
type worker struct {
	c       counters
	h       *handler
	uc      *net.UDPConn
	rc      syscall.RawConn
	v6      bool
	pktinfo bool // wildcard socket: reply from the address the request was sent to

	rbuf  []byte
	names []unix.RawSockaddrInet6 // big enough for either family
	rctrl []byte
	rhdr  []unix.Mmsghdr
	riov  []unix.Iovec

	wbuf  []byte
	wctrl []byte
	whdr  []unix.Mmsghdr
	wiov  []unix.Iovec
	stamp []bool

	rn     int
	rerr   unix.Errno
	wcount int
	wsent  int

	readFn, writeFn func(fd uintptr) bool
}

func newWorker(h *handler, uc *net.UDPConn, v6, wildcard bool, batch int) (*worker, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("SyscallConn: %w", err)
	}
	w := &worker{
		h: h, uc: uc, rc: rc, v6: v6, pktinfo: wildcard,
		rbuf:  make([]byte, batch*rxBufLen),
		names: make([]unix.RawSockaddrInet6, batch),
		rctrl: make([]byte, batch*ctrlLen),
		rhdr:  make([]unix.Mmsghdr, batch),
		riov:  make([]unix.Iovec, batch),
		wbuf:  make([]byte, batch*HeaderLen),
		wctrl: make([]byte, batch*ctrlLen),
		whdr:  make([]unix.Mmsghdr, batch),
		wiov:  make([]unix.Iovec, batch),
		stamp: make([]bool, batch),
	}
	for i := range batch {
		w.riov[i].Base = &w.rbuf[i*rxBufLen]
		w.riov[i].SetLen(rxBufLen)
		w.rhdr[i].Hdr.Iov = &w.riov[i]
		w.rhdr[i].Hdr.SetIovlen(1)
		w.rhdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&w.names[i]))
		w.rhdr[i].Hdr.Control = &w.rctrl[i*ctrlLen]
		w.wiov[i].Base = &w.wbuf[i*HeaderLen]
		w.whdr[i].Hdr.Iov = &w.wiov[i]
		w.whdr[i].Hdr.SetIovlen(1)
	}
	w.readFn = w.doRead
	w.writeFn = w.doWrite

	var serr error
	err = rc.Control(func(fd uintptr) {
		// Kernel receive timestamps. SO_TIMESTAMPNS_NEW (Linux 5.1) carries
		// 64-bit seconds on 32-bit ARM too (no 2038 problem); older kernels
		// get the native struct timespec.
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, 1); err != nil {
			if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_OLD, 1); err != nil {
				serr = fmt.Errorf("setsockopt(SO_TIMESTAMPNS): %w", err)
				return
			}
		}
		if !wildcard {
			return
		}
		// On a wildcard socket the kernel would pick the reply's source
		// address by routing, which on a host with several addresses (IPv6
		// SLAAC and privacy addresses above all) is often not the address
		// the client asked; clients drop such replies. Learn the request's
		// destination and send from it.
		if v6 {
			if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
				serr = fmt.Errorf("setsockopt(IPV6_RECVPKTINFO): %w", err)
			}
		} else if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
			serr = fmt.Errorf("setsockopt(IP_PKTINFO): %w", err)
		}
	})
	if err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	return w, nil
}

// run serves until the socket is closed (nil) or fails.
func (w *worker) run() error {
	for {
		w.rerr = 0
		if err := w.rc.Read(w.readFn); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("ntpserve: recvmmsg: %w", err)
		}
		if w.rerr != 0 {
			// ENOMEM and friends: count, carry on.
			w.c.recvErrors.Add(1)
			continue
		}
		if err := w.serveBatch(w.rn); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("ntpserve: sendmmsg: %w", err)
		}
	}
}

func (w *worker) doRead(fd uintptr) bool {
	for i := range w.rhdr {
		h := &w.rhdr[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(ctrlLen)
		h.Flags = 0
	}
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&w.rhdr[0])),
			uintptr(len(w.rhdr)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			w.rn = int(n)
			return true
		case unix.EAGAIN:
			return false
		case unix.EINTR:
			continue
		default:
			w.rn, w.rerr = 0, e
			return true
		}
	}
}

func (w *worker) doWrite(fd uintptr) bool {
	for w.wsent < w.wcount {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.whdr[w.wsent])),
			uintptr(w.wcount-w.wsent), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			w.wsent += int(n)
		case unix.EAGAIN:
			return false
		case unix.EINTR:
		default:
			// sendmmsg reports an error only when the first message fails
			// (an unroutable client, a firewall): skip that one.
			w.c.sendErrors.Add(1)
			w.wsent++
		}
	}
	return true
}

// serveBatch answers the n packets just read, then stamps and sends the
// replies in one sendmmsg.
func (w *worker) serveBatch(n int) error {
	w.c.received.Add(uint64(n))
	nw := 0
	for i := range n {
		rh := &w.rhdr[i]
		plen := min(int(rh.Len), rxBufLen)
		req := w.rbuf[i*rxBufLen : i*rxBufLen+plen]
		src, ok := sockaddrAddr(&w.names[i], rh.Hdr.Namelen)
		if !ok {
			w.c.out[outDropMalformed].Add(1)
			continue
		}
		ctrl := w.rctrl[i*ctrlLen : i*ctrlLen+min(int(rh.Hdr.Controllen), ctrlLen)]
		rxNs, dst, ifindex, haveDst := parseControl(ctrl)
		if rxNs == 0 {
			rxNs = time.Now().UnixNano() // no kernel timestamp: cannot happen with SO_TIMESTAMPNS set
		}
		resp := w.wbuf[nw*HeaderLen : (nw+1)*HeaderLen]
		rn, out := w.h.handle(req, resp, src, rxNs)
		w.c.out[out].Add(1)
		if !out.replies() {
			continue
		}
		wh := &w.whdr[nw].Hdr
		wh.Name = (*byte)(unsafe.Pointer(&w.names[i]))
		wh.Namelen = rh.Hdr.Namelen
		w.wiov[nw].SetLen(rn)
		if w.pktinfo && haveDst {
			c := w.wctrl[nw*ctrlLen : (nw+1)*ctrlLen]
			wh.Control = &c[0]
			wh.SetControllen(putPktinfo(c, w.v6, dst, ifindex))
		} else {
			wh.Control = nil
			wh.SetControllen(0)
		}
		w.stamp[nw] = out.stampsTransmit()
		nw++
	}
	if nw == 0 {
		return nil
	}
	// Transmit timestamps last, immediately before the send.
	for j := range nw {
		if w.stamp[j] {
			putTransmit(w.wbuf[j*HeaderLen:], TimestampFromUnixNs(w.h.clock.Now()))
		}
	}
	w.wcount, w.wsent = nw, 0
	return w.rc.Write(w.writeFn)
}

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

// parseControl walks the control messages of one datagram without
// allocating (unix.ParseSocketControlMessage allocates) and returns the
// kernel receive time (CLOCK_REALTIME ns, 0 if absent) and the request's
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
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS_OLD && len(data) >= int(unsafe.Sizeof(unix.Timespec{})):
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
