//go:build linux

package ntpserve

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
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
		workers = defaultWorkers(runtime.GOMAXPROCS(0))
	}
	br := busyRate
	if runtime.GOMAXPROCS(0) < 2 {
		// A worker blocked in recvmmsg holds its P: with only one, every
		// other goroutine would wait for sysmon to take it back.
		br = math.MaxInt
	}
	bufBytes := cfg.SocketBuffer
	if bufBytes <= 0 {
		bufBytes = defaultSocketBuffer
	}
	// Wildcards first: a wildcard's claim (below) covers every specific
	// address of its family on its port, and a specific address bound
	// first would make the wildcard's claim fail on our own socket.
	order := make([]int, len(aps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(boolInt(!aps[a].Addr().IsUnspecified()), boolInt(!aps[b].Addr().IsUnspecified()))
	})
	s.addrs = make([]netip.AddrPort, len(aps))
	for n, k := range order {
		ap := aps[k]
		claim := true
		for _, j := range order[:n] {
			if covers(aps[j], ap) {
				claim = false // already proved free by our own claim
			}
		}
		bound := ap
		for i := range workers {
			fd, la, err := listenUDP(bound, bufBytes, claim && i == 0)
			if err != nil {
				return err
			}
			if i == 0 {
				// Port 0: the other workers join the port the first got.
				bound = la
				s.addrs[k] = bound
			}
			w, err := newWorker(&s.h, fd, ap.Addr().Is6(), ap.Addr().IsUnspecified(), s.batch, br)
			if err != nil {
				unix.Close(fd)
				return fmt.Errorf("ntpserve: listen %s: %w", ap, err)
			}
			s.workers = append(s.workers, w)
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// covers reports whether binding a (already done, by this Server) proved
// b free too: the same family and the same fixed port, and a is b or the
// family's wildcard. Port 0 covers nothing: each bind draws its own port.
func covers(a, b netip.AddrPort) bool {
	return a.Port() != 0 && a.Port() == b.Port() && a.Addr().Is6() == b.Addr().Is6() &&
		(a.Addr() == b.Addr() || a.Addr().IsUnspecified())
}

// addrInUseError is bind's EADDRINUSE said for an operator: the usual
// cause is a second gpsntpd or another NTP server on the machine.
type addrInUseError struct{ ap netip.AddrPort }

func (e addrInUseError) Error() string {
	return fmt.Sprintf("ntpserve: listen %s: address in use by another process (another gpsntpd or an NTP daemon?)", e.ap)
}

func (e addrInUseError) Unwrap() error { return unix.EADDRINUSE }

// listenUDP opens and binds one blocking SO_REUSEPORT socket with big
// buffers and returns it with its bound address. IPv6 sockets are
// IPv6-only, so "0.0.0.0:123" and "[::]:123" can both be served.
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
func listenUDP(ap netip.AddrPort, bufBytes int, claim bool) (int, netip.AddrPort, error) {
	fail := func(op string, err error) (int, netip.AddrPort, error) {
		return -1, netip.AddrPort{}, fmt.Errorf("ntpserve: listen %s: %s: %w", ap, op, err)
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
	reuseport := func() error {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fmt.Errorf("ntpserve: listen %s: setsockopt(SO_REUSEPORT): %w", ap, err)
		}
		return nil
	}
	if !claim {
		if err := reuseport(); err != nil {
			return -1, netip.AddrPort{}, err
		}
	}
	// Best effort: *BUFFORCE needs CAP_NET_ADMIN, the plain options are
	// capped at net.core.[rw]mem_max.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bufBytes) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bufBytes)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, bufBytes) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, bufBytes)
	}
	if family == unix.AF_INET {
		// Replies are atomic datagrams (RFC 6864): 48 bytes with DF set
		// never need fragmenting, and carry IP ID 0 instead of one from
		// the kernel's shared hashed counters (__ip_select_ident): a
		// little less work per reply and no ID side channel.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO); err != nil {
			return fail("setsockopt(IP_MTU_DISCOVER)", err)
		}
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("setsockopt(IPV6_V6ONLY)", err)
		}
		s6 := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
		if z := ap.Addr().Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				s6.ZoneId = uint32(ifi.Index)
			} else if n, err := strconv.ParseUint(z, 10, 32); err == nil {
				s6.ZoneId = uint32(n)
			} else {
				return fail("zone "+z, err)
			}
		}
		sa = s6
	} else {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return -1, netip.AddrPort{}, addrInUseError{ap}
		}
		return fail("bind", err)
	}
	if claim {
		if err := reuseport(); err != nil {
			return -1, netip.AddrPort{}, err
		}
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	var la netip.AddrPort
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		la = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		la = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).WithZone(ap.Addr().Zone()), uint16(a.Port))
	}
	ok = true
	return fd, la, nil
}

// worker serves one socket with recvmmsg/sendmmsg on buffers allocated
// once: the steady state allocates nothing.
//
// It waits for requests in one of two ways, chosen by the request rate it
// measures (see run):
//
//   - polled (below busyRate): the socket is non-blocking and registered
//     with Go's network poller through a duplicate descriptor; the
//     goroutine parks until a request arrives and the thread that wakes
//     in epoll_wait runs it. Reads and writes are raw system calls with
//     MSG_DONTWAIT, which never block and so never enter the scheduler's
//     syscall state: no P handoff, no sysmon wakeup. A request costs one
//     thread wakeup and four system calls (epoll_wait, recvmmsg, sendmmsg,
//     recvmmsg → EAGAIN) and an idle server costs nothing.
//   - blocking (at and above busyRate): the socket is blocking and out of
//     the poller (the duplicate is closed, which deregisters it), and the
//     worker sleeps in recvmmsg(MSG_WAITFORONE) itself: a batch costs two
//     system calls and no epoll_wait, no EAGAIN and no park/unpark.
type worker struct {
	c       counters
	h       *handler
	fd      int
	v6      bool
	pktinfo bool // wildcard socket: reply from the address the request was sent to

	busyRate int // requests/s from which the worker blocks in recvmmsg; see busyRateDefault

	// mu guards fd's life and the poller registration: stop shuts the
	// socket down (waking a blocked recvmmsg) and closes poll (waking a
	// parked goroutine) unless run has already closed them, so a reused
	// descriptor number is never touched.
	mu       sync.Mutex
	stopping atomic.Bool
	fdClosed bool
	poll     *os.File        // duplicate of fd registered with the poller; nil while blocking
	rc       syscall.RawConn // poll's
	blocking atomic.Bool     // the way run waits, for tests

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

	// The closures handed to RawConn.Read and Write, made once (a method
	// value or a closure made per call would allocate).
	pollRecv, pollSend func(fd uintptr) bool
	rn                 int
	re                 unix.Errno
	sendFrom, sendTo   int
}

func newWorker(h *handler, fd int, v6, wildcard bool, batch, busyRate int) (*worker, error) {
	w := &worker{
		h: h, fd: fd, v6: v6, pktinfo: wildcard, busyRate: busyRate,
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
	w.pollRecv = func(uintptr) bool {
		w.rn, w.re = w.recvNow()
		return w.re != unix.EAGAIN
	}
	w.pollSend = func(uintptr) bool {
		w.rn, w.re = w.sendNow(w.sendFrom, w.sendTo)
		return w.re != unix.EAGAIN
	}

	// Kernel receive timestamps. SO_TIMESTAMPNS_NEW (Linux 5.1) carries
	// 64-bit seconds on 32-bit ARM too (no 2038 problem); older kernels get
	// the native struct timespec.
	// Where neither exists (qemu-user emulation answers ENOPROTOOPT) the
	// receive time is read in user space after recvmmsg: later by the
	// queueing and wakeup latency, so worse, but not wrong. The server says
	// so (Server.KernelTimestamps) rather than refusing to run.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_NEW, 1); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS_OLD, 1); err != nil {
			if !errors.Is(err, unix.ENOPROTOOPT) {
				return nil, fmt.Errorf("setsockopt(SO_TIMESTAMPNS): %w", err)
			}
			h.userStamps.Store(true)
		}
	}
	// Only a blocking recvmmsg waits, and never longer than busyWait.
	tv := unix.NsecToTimeval(busyWait.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("setsockopt(SO_RCVTIMEO): %w", err)
	}
	if !wildcard {
		return w, nil
	}
	// On a wildcard socket the kernel would pick the reply's source address
	// by routing, which on a host with several addresses (IPv6 SLAAC and
	// privacy addresses above all) is often not the address the client
	// asked; clients drop such replies. Learn the request's destination and
	// send from it.
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
			return nil, fmt.Errorf("setsockopt(IPV6_RECVPKTINFO): %w", err)
		}
	} else if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		return nil, fmt.Errorf("setsockopt(IP_PKTINFO): %w", err)
	}
	return w, nil
}

// stop makes run return: shutdown(2) wakes a recvmmsg or sendmmsg blocked
// on the socket (for UDP too, since Linux 2.6) and closing the poller's
// descriptor wakes a parked goroutine. If run never started (started
// false), stop closes the socket itself.
func (w *worker) stop(started bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopping.Store(true)
	if w.fdClosed {
		return nil
	}
	if w.poll != nil {
		_ = w.poll.Close()
		w.poll, w.rc = nil, nil
	}
	if !started {
		w.fdClosed = true
		return unix.Close(w.fd)
	}
	// ENOTCONN on an unconnected UDP socket, but the wakeup happens anyway.
	_ = unix.Shutdown(w.fd, unix.SHUT_RDWR)
	return nil
}

// closeFD closes the socket when run ends.
func (w *worker) closeFD() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.poll != nil {
		_ = w.poll.Close()
		w.poll, w.rc = nil, nil
	}
	if !w.fdClosed {
		w.fdClosed = true
		unix.Close(w.fd)
	}
}

// toPolled makes the socket non-blocking and registers a duplicate of it
// with Go's network poller (os.NewFile registers a non-blocking
// descriptor). A duplicate, because closing it is the only way to take a
// descriptor out of the poller again (toBlocking) without closing the
// socket. It returns false if the worker is stopping.
func (w *worker) toPolled() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping.Load() {
		return false, nil
	}
	if err := unix.SetNonblock(w.fd, true); err != nil {
		return false, fmt.Errorf("ntpserve: fcntl(O_NONBLOCK): %w", err)
	}
	dup, err := unix.FcntlInt(uintptr(w.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("ntpserve: fcntl(F_DUPFD_CLOEXEC): %w", err)
	}
	f := os.NewFile(uintptr(dup), "ntpserve")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return false, fmt.Errorf("ntpserve: poller: %w", err)
	}
	w.poll, w.rc = f, rc
	return true, nil
}

// toBlocking takes the socket out of the poller (so its readiness no
// longer wakes a thread in epoll_wait) and makes it blocking.
func (w *worker) toBlocking() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.poll != nil {
		_ = w.poll.Close()
		w.poll, w.rc = nil, nil
	}
	if w.stopping.Load() {
		return nil
	}
	if err := unix.SetNonblock(w.fd, false); err != nil {
		return fmt.Errorf("ntpserve: fcntl(O_NONBLOCK): %w", err)
	}
	return nil
}

// defaultWorkers is one worker per core but one: while every P is held by
// a thread blocked in a system call, Go's sysmon takes Ps back within
// microseconds and keeps polling at 20 µs (runtime/proc.go retake: it
// leaves a P to its syscall only while another P is idle), which costs
// more than a blocking worker saves.
func defaultWorkers(procs int) int { return max(1, procs-1) }

// busyRateDefault is the request rate (per worker, requests/s) from which
// a worker blocks in recvmmsg instead of parking in the poller; below
// half of it, it goes back to the poller. Blocking saves epoll_wait, a
// recvmmsg returning EAGAIN and a park and unpark per wakeup (about a
// fifth of a wakeup's cost at low rates, profiled), but a wait that
// times out costs a whole wakeup for nothing: with Poisson arrivals at
// rate λ a request costs e^(−λ·busyWait)/(1−e^(−λ·busyWait)) timeouts,
// 1.5 at 250/s, 0.16 at 1,000/s. Measured (BENCHMARKS.md), the two ways
// cost the same at 1,000/s within the noise of a shared machine, and
// blocking is ahead from 5,000/s to capacity.
const busyRateDefault = 1000

// busyRate is the rate from which new workers block: busyRateDefault; 0
// blocks always, math.MaxInt never (tests use them to exercise both ways
// of waiting). With GOMAXPROCS 1 workers never block.
var busyRate = busyRateDefault

// rateWindow is how often a worker measures its request rate.
const rateWindow = 100 * time.Millisecond

// yieldEvery bounds how long a blocking worker goes without passing
// through the scheduler. A goroutine that only alternates between system
// calls and Go code keeps its P's schedtick unchanged, which sysmon reads
// as a goroutine running for over 10 ms (forcePreemptNS): it then retakes
// the P at every tick of its 20 µs poll, thousands of wakeups a second.
// One runtime.Gosched every few milliseconds prevents that. A polled
// worker parks whenever its queue is empty and needs none.
const yieldEvery = 4 * time.Millisecond

// busyWait bounds a blocking recvmmsg (SO_RCVTIMEO). A wait that sysmon
// sees last 10 ms makes it take the P back and then poll at 20 µs for a
// while; short waits keep the P and sysmon at its 10 ms pace, and let the
// worker notice within busyWait that the rate has dropped and it should
// go back to the poller. SO_RCVTIMEO counts in jiffies: 2 ms is one jiffy
// at HZ ≥ 500, two at 250, one 10 ms jiffy at 100.
const busyWait = 2 * time.Millisecond

// run serves until stop (nil) or a socket error that is not transient.
func (w *worker) run() error {
	defer w.closeFD()
	blocking := true // the socket starts blocking, out of the poller
	w.blocking.Store(true)
	now := time.Now()
	lastYield, windowStart := now, now
	windowPackets := 0
	if w.busyRate > 0 {
		// Start polled: most of a server's life is quiet.
		ok, err := w.toPolled()
		if err != nil || !ok {
			return err
		}
		blocking = false
		w.blocking.Store(false)
	}
	for {
		var n int
		var err unix.Errno
		if blocking {
			n, err = w.recvBlocking()
		} else {
			n, err = w.recvPolled()
		}
		if w.stopping.Load() {
			return nil
		}
		now = time.Now()
		switch err {
		case 0:
			windowPackets += n
		case unix.EINTR, unix.EAGAIN:
			n = 0
		case unix.EBADF, unix.ENOTSOCK, unix.EFAULT, unix.EINVAL:
			return fmt.Errorf("ntpserve: recvmmsg: %w", err)
		default:
			// ENOMEM and friends: count, carry on.
			w.c.recvErrors.Add(1)
			n = 0
		}
		if n > 0 {
			if err := w.serveBatch(n, blocking); err != 0 {
				if w.stopping.Load() {
					return nil
				}
				return fmt.Errorf("ntpserve: sendmmsg: %w", err)
			}
		}
		if blocking && now.Sub(lastYield) > yieldEvery {
			runtime.Gosched()
			lastYield = now
		}
		if el := now.Sub(windowStart); el >= rateWindow && w.busyRate > 0 {
			rate := float64(windowPackets) / el.Seconds()
			windowStart, windowPackets = now, 0
			switch {
			case !blocking && w.busyRate < math.MaxInt && rate >= float64(w.busyRate):
				if err := w.toBlocking(); err != nil {
					return err
				}
				blocking = true
				w.blocking.Store(true)
				lastYield = now
			case blocking && rate < float64(w.busyRate)/2:
				ok, err := w.toPolled()
				if err != nil || !ok {
					return err
				}
				blocking = false
				w.blocking.Store(false)
			}
		}
	}
}

// recvBlocking waits (at most busyWait) for at least one datagram and
// returns the number read: all that were queued, up to the batch size
// (MSG_WAITFORONE).
func (w *worker) recvBlocking() (int, unix.Errno) {
	w.resetRecv()
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(w.fd), uintptr(unsafe.Pointer(&w.rhdr[0])),
		uintptr(len(w.rhdr)), unix.MSG_WAITFORONE, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// recvPolled parks in the poller until at least one datagram is queued and
// returns the number read.
func (w *worker) recvPolled() (int, unix.Errno) {
	w.mu.Lock()
	rc := w.rc
	w.mu.Unlock()
	if rc == nil {
		return 0, unix.EBADF // stopped meanwhile
	}
	if err := rc.Read(w.pollRecv); err != nil {
		return 0, unix.EBADF // closed by stop
	}
	return w.rn, w.re
}

// recvNow reads what is queued without waiting, as a raw system call: it
// cannot block, so it need not tell the scheduler.
func (w *worker) recvNow() (int, unix.Errno) {
	w.resetRecv()
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(w.fd), uintptr(unsafe.Pointer(&w.rhdr[0])),
		uintptr(len(w.rhdr)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

func (w *worker) resetRecv() {
	for i := range w.rhdr {
		h := &w.rhdr[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(ctrlLen)
		h.Flags = 0
	}
}

// sendNow sends replies [from, to) without waiting, as a raw system call.
func (w *worker) sendNow(from, to int) (int, unix.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(w.fd), uintptr(unsafe.Pointer(&w.whdr[from])),
		uintptr(to-from), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// send sends replies [0, count) and returns only errors that stop the
// worker: a message the kernel refuses (an unroutable client, a firewall)
// is counted and skipped. A full send buffer is waited out: in the poller
// when polled, in a blocking sendmmsg when blocking.
func (w *worker) send(count int, blocking bool) unix.Errno {
	for sent := 0; sent < count; {
		n, e := w.sendNow(sent, count)
		if e == unix.EAGAIN {
			n, e = w.sendWait(sent, count, blocking)
		}
		switch e {
		case 0:
			sent += n
		case unix.EINTR, unix.EAGAIN:
		case unix.EBADF, unix.ENOTSOCK, unix.EFAULT, unix.EPIPE:
			return e
		default:
			// sendmmsg reports an error only when the first message fails.
			w.c.sendErrors.Add(1)
			sent++
		}
	}
	return 0
}

// sendWait sends replies [from, to), waiting for room in the send buffer.
func (w *worker) sendWait(from, to int, blocking bool) (int, unix.Errno) {
	if blocking {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(w.fd), uintptr(unsafe.Pointer(&w.whdr[from])),
			uintptr(to-from), 0, 0, 0)
		return int(n), e
	}
	w.mu.Lock()
	rc := w.rc
	w.mu.Unlock()
	if rc == nil {
		return 0, unix.EBADF
	}
	w.sendFrom, w.sendTo = from, to
	if err := rc.Write(w.pollSend); err != nil {
		return 0, unix.EBADF
	}
	return w.rn, w.re
}

// serveBatch answers the n packets just read, then stamps and sends the
// replies in one sendmmsg.
func (w *worker) serveBatch(n int, blocking bool) unix.Errno {
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
			rxNs = time.Now().UnixNano() // no kernel timestamp (see KernelTimestamps)
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
		return 0
	}
	// Transmit timestamps last, immediately before the send: one clock
	// reading for the batch, since one sendmmsg sends it (the kernel takes
	// about as long per message as the loop would between readings).
	xmt := TimestampFromUnixNs(w.h.clock.Now())
	for j := range nw {
		if w.stamp[j] {
			putTransmit(w.wbuf[j*HeaderLen:], xmt)
		}
	}
	return w.send(nw, blocking)
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
