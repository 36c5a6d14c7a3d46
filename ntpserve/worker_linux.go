//go:build linux

package ntpserve

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// rxBufLen bounds what is read of a request: of an NTP request only
	// the header matters, longer datagrams are truncated (their real
	// length is still ≥ 48, so the reply is never larger than the
	// request); a mode 6 request is at most 480 bytes (ntpq's limit).
	rxBufLen = 512
	// ctrlLen holds a timestamp cmsg (16 + 16) and an IPv6 pktinfo cmsg
	// (16 + 20, aligned to 24) with room to spare.
	ctrlLen = 128
)

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

	busyRate int // requests/s from which the worker blocks in recvmmsg; see busyRateFor

	// The thread's priority while busy (priority_linux.go).
	busyNice int
	saved    unix.SchedAttr // the thread's policy and nice before it was raised
	raised   bool           // locked to its thread at busyNice

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

	wbuf   []byte
	wctrl  []byte
	whdr   []unix.Mmsghdr
	wiov   []unix.Iovec
	stamp  []bool // the reply's transmit timestamp is to be predicted (not KoD, not interleaved)
	record []bool // the reply's kernel transmit time is to be recorded (interleaved clients)
	ctlLen []int  // length of the reply's own control messages (pktinfo)

	// Transmit timestamps (txstamp_linux.go): txOK when the socket has
	// SO_TIMESTAMPING; the send path's measured figures; the calibration
	// in flight; the error queue's buffers.
	txOK  bool
	tx    txPredictor
	cal   calSample
	ebuf  []byte
	ectrl []byte
	ehdr  []unix.Mmsghdr
	eiov  []unix.Iovec

	// The closures handed to RawConn.Read and Write, made once (a method
	// value or a closure made per call would allocate).
	pollRecv, pollSend func(fd uintptr) bool
	rn                 int
	re                 unix.Errno
	sendFrom, sendTo   int
	asked              bool // a reply of this batch asked for its transmit timestamp
	blockingNow        bool // the batch being sent was read by a blocking recvmmsg
	pfd                [1]unix.PollFd
}

// newWorker makes the worker of fd (set up by listenUDP, which it then
// owns), with batch-sized buffers and the busy rate from which it blocks
// in recvmmsg (see busyRateFor).
func newWorker(h *handler, fd int, v6, wildcard, txOK bool, batch, busyRate int, txBudgetNs int64, busyNice int) *worker {
	w := &worker{
		h: h, fd: fd, v6: v6, pktinfo: wildcard, busyRate: busyRate, txOK: txOK && h.xl != nil, busyNice: busyNice,
		tx:     newTxPredictor(txBudgetNs),
		rbuf:   make([]byte, batch*rxBufLen),
		names:  make([]unix.RawSockaddrInet6, batch),
		rctrl:  make([]byte, batch*ctrlLen),
		rhdr:   make([]unix.Mmsghdr, batch),
		riov:   make([]unix.Iovec, batch),
		wbuf:   make([]byte, batch*HeaderLen),
		wctrl:  make([]byte, batch*ctrlLen),
		whdr:   make([]unix.Mmsghdr, batch),
		wiov:   make([]unix.Iovec, batch),
		stamp:  make([]bool, batch),
		record: make([]bool, batch),
		ctlLen: make([]int, batch),
	}
	if w.txOK {
		w.ebuf = make([]byte, batch*errBufLen)
		w.ectrl = make([]byte, batch*errCtrlLen)
		w.ehdr = make([]unix.Mmsghdr, batch)
		w.eiov = make([]unix.Iovec, batch)
		for i := range batch {
			w.eiov[i].Base = &w.ebuf[i*errBufLen]
			w.eiov[i].SetLen(errBufLen)
			w.ehdr[i].Hdr.Iov = &w.eiov[i]
			w.ehdr[i].Hdr.SetIovlen(1)
			w.ehdr[i].Hdr.Control = &w.ectrl[i*errCtrlLen]
		}
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
		w.rn, w.re = w.stampAndSend(w.sendFrom, w.sendTo, pathCold)
		return w.re != unix.EAGAIN
	}
	return w
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
	defer w.restorePriority()
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
	} else {
		w.raisePriority()
	}
	for {
		var n int
		var err unix.Errno
		waitStart := time.Now()
		if blocking {
			n, err = w.recvBlocking()
		} else {
			n, err = w.recvPolled()
		}
		if w.stopping.Load() {
			return nil
		}
		now = time.Now()
		path := pathHot
		if now.Sub(waitStart) > coldWaitNs {
			path = pathCold
		}
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
			if err := w.serveBatch(n, blocking, path); err != 0 {
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
			// Below half the busy rate (just polled) is below half of hot.
			switch hot := float64(w.busyRate) * raiseFactor; {
			case blocking && rate >= hot:
				w.raisePriority()
			case rate < hot/2:
				w.restorePriority()
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

// stampAndSend reads the clock, stamps the next chunk of replies from
// [from, to) with their predicted departures (txstamp_linux.go) and sends
// it without waiting. A reply that was sent after a wait or a partial send
// is stamped again here, so no stamp is older than its chunk's reading.
func (w *worker) stampAndSend(from, to int, path txPath) (int, unix.Errno) {
	k := w.tx.chunk(to - from)
	nowNs := w.h.clock.Now()
	calibrate := w.txOK && w.tx.calibrationDue(nowNs, path, !w.blockingNow)
	if calibrate && k == 1 && to-from > 1 {
		// Measure the per-reply cost even when it is thought too high for
		// two replies to share a chunk: else a high figure, once learnt,
		// could never be corrected.
		k = 2
	}
	// A calibration asks for the transmit timestamps of the chunk's first
	// and last stamped replies only: each one asked costs the kernel a copy
	// of the datagram, which would slow the replies after it and so
	// inflate the per-reply figure it measures.
	first, last := -1, -1
	if calibrate {
		for j := range k {
			if w.stamp[from+j] {
				if first < 0 {
					first = j
				}
				last = j
			}
		}
	}
	for j := range k {
		m := from + j
		if w.stamp[m] {
			putTransmit(w.wbuf[m*HeaderLen:], TimestampFromUnixNs(w.tx.at(nowNs, path, j)))
		}
		wh := &w.whdr[m].Hdr
		cl := w.ctlLen[m]
		c := w.wctrl[m*ctrlLen : (m+1)*ctrlLen]
		if w.record[m] || calibrate && (j == first || j == last) {
			cl += putTxRequest(c[cl:])
			w.asked = true
		}
		if cl > 0 {
			wh.Control = &c[0]
		} else {
			wh.Control = nil
		}
		wh.SetControllen(cl)
	}
	if calibrate && first >= 0 {
		w.tx.lastCalNs[path] = nowNs
		w.cal.start(path, nowNs, first, receiveField(w.wbuf[(from+first)*HeaderLen:]),
			last, receiveField(w.wbuf[(from+last)*HeaderLen:]))
	}
	return w.sendNow(from, from+k)
}

// send sends replies [0, count) and returns only errors that stop the
// worker: a message the kernel refuses (an unroutable client, a firewall)
// is counted and skipped. A full send buffer is waited out: in the poller
// when polled, in poll(2) when blocking; the replies are stamped again
// after the wait.
func (w *worker) send(count int, blocking bool, path txPath) unix.Errno {
	w.asked = false
	w.blockingNow = blocking
	for sent := 0; sent < count; {
		n, e := w.stampAndSend(sent, count, path)
		path = pathHot
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
	if w.asked {
		w.readTxStamps()
	}
	return 0
}

// sendWait sends replies [from, to), waiting for room in the send buffer.
func (w *worker) sendWait(from, to int, blocking bool) (int, unix.Errno) {
	if blocking {
		w.pfd[0] = unix.PollFd{Fd: int32(w.fd), Events: unix.POLLOUT}
		if _, err := unix.Poll(w.pfd[:], int(busyWait.Milliseconds())+1); err != nil && err != unix.EINTR {
			return 0, err.(unix.Errno)
		}
		return w.stampAndSend(from, to, pathCold)
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

// sendOne sends b to the source of request i at once, outside the batch:
// for mode 6 answers, which are rare, rate limited and of any length.
// Errors are counted, never fatal.
func (w *worker) sendOne(b []byte, i int, dst [16]byte, ifindex uint32, haveDst bool) {
	var iov unix.Iovec
	iov.Base = &b[0]
	iov.SetLen(len(b))
	var ctrl [ctrlLen]byte
	var m unix.Msghdr
	m.Name = (*byte)(unsafe.Pointer(&w.names[i]))
	m.Namelen = w.rhdr[i].Hdr.Namelen
	m.Iov = &iov
	m.SetIovlen(1)
	if w.pktinfo && haveDst {
		m.Control = &ctrl[0]
		m.SetControllen(putPktinfo(ctrl[:], w.v6, dst, ifindex))
	}
	if _, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(w.fd), uintptr(unsafe.Pointer(&m)), unix.MSG_DONTWAIT); e != 0 {
		w.c.sendErrors.Add(1)
	}
}

// serveBatch answers the n packets just read, then stamps and sends the
// replies in one sendmmsg.
func (w *worker) serveBatch(n int, blocking bool, path txPath) unix.Errno {
	w.c.received.Add(uint64(n))
	nw := 0
	for i := range n {
		rh := &w.rhdr[i]
		plen := min(int(rh.Len), rxBufLen)
		req := w.rbuf[i*rxBufLen : i*rxBufLen+plen]
		src, ok := sockaddrAddr(&w.names[i], rh.Hdr.Namelen)
		if !ok {
			w.c.out[OutDropMalformed].Add(1)
			continue
		}
		ctrl := w.rctrl[i*ctrlLen : i*ctrlLen+min(int(rh.Hdr.Controllen), ctrlLen)]
		rxNs, dst, ifindex, haveDst := parseControl(ctrl)
		if rxNs == 0 {
			rxNs = time.Now().UnixNano() // no kernel timestamp (see KernelTimestamps)
		}
		resp := w.wbuf[nw*HeaderLen : (nw+1)*HeaderLen]
		rn, out := w.h.handle(req, resp, src, rxNs)
		if out == OutControl {
			out = w.h.control(req, src, func(b []byte) { w.sendOne(b, i, dst, ifindex, haveDst) })
		}
		w.c.out[out].Add(1)
		if !out.replies() {
			continue
		}
		wh := &w.whdr[nw].Hdr
		wh.Name = (*byte)(unsafe.Pointer(&w.names[i]))
		wh.Namelen = rh.Hdr.Namelen
		w.wiov[nw].SetLen(rn)
		w.ctlLen[nw] = 0
		if w.pktinfo && haveDst {
			w.ctlLen[nw] = putPktinfo(w.wctrl[nw*ctrlLen:(nw+1)*ctrlLen], w.v6, dst, ifindex)
		}
		w.stamp[nw], w.record[nw] = out.stampsTransmit(), false
		if out == OutReply && w.txOK {
			interleaved, record := w.h.xl.xleave(req, resp)
			w.stamp[nw], w.record[nw] = !interleaved, record
			if interleaved {
				w.c.xleave.Add(1)
			}
		}
		nw++
	}
	if nw == 0 {
		return 0
	}
	// Transmit timestamps last, chunk by chunk, immediately before each
	// sendmmsg (stampAndSend).
	return w.send(nw, blocking, path)
}
