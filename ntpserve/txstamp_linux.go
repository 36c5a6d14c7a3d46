//go:build linux

package ntpserve

import (
	"encoding/binary"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Transmit timestamps: what a reply says it left at, and when it did.
//
// One sendmmsg sends a chunk of replies one after the other; each costs
// the kernel a few µs (on loopback, with the receiver's delivery, 3–5 µs
// on this project's 2-core test machine). A single clock reading for the
// chunk is therefore early by that much per position, and a client's
// offset is wrong by half of it (BENCHMARKS.md, "Accurate under load":
// 32 replies sent with one reading left 2.8–165 µs after it).
//
// So the worker predicts each reply's departure, and bounds how far it
// predicts:
//
//	T3[j] = clock reading just before sendmmsg + firstNs[path] + j·perReplyNs
//
// for reply j (from 0) of a chunk, and a chunk holds as many replies as
// fit in txBudgetNs of predicted send time (at least one). firstNs (the
// time from the reading to the first reply's departure, hot or cold: see
// txPath) and perReplyNs
// (each further reply's cost) are measured continuously: now and then
// (calibrationDue), the replies of a chunk ask for their kernel software
// transmit timestamps (SOF_TIMESTAMPING_TX_SOFTWARE, taken by the driver
// as it hands the datagram on, on loopback as the client receives it),
// which come back on the socket's error queue with the datagram (see
// learn for how the figures follow them).
//
// The same error queue returns the transmit timestamps of the replies to
// interleaved clients (xleave.go).

const (
	// txBudgetNs bounds the predicted send time spanned by one sendmmsg,
	// so a prediction error grows over a few replies at most. Set from
	// Config.TxBudget.
	txBudgetDefaultNs = 12_000
	// calibrateEveryNs is how often a worker measures its send path,
	// per path (hot or cold), while it blocks in recvmmsg;
	// calibratePolledEveryNs while it waits in the poller, where the
	// error queue's wakeup of the poller is a good part of a reply's cost
	// at a pool server's few requests a second.
	calibrateEveryNs       = 10_000_000
	calibratePolledEveryNs = 1_000_000_000
	// coldWaitNs: a receive that waited longer than this leaves the send
	// path cold (see txPath).
	coldWaitNs = 50_000
	// firstDefaultNs and perReplyDefaultNs are the predictor's figures
	// until the first calibration (and for good without SO_TIMESTAMPING):
	// about what a Raspberry Pi 4 takes.
	firstDefaultNs    = 2_000
	perReplyDefaultNs = 3_000
	// errBufLen holds an error queue message: the datagram as the driver
	// saw it (link, IP and UDP headers, then the 48-byte reply).
	errBufLen = 160
	// errCtrlLen holds struct scm_timestamping(64) and the IP_RECVERR or
	// IPV6_RECVERR message (sock_extended_err and an address).
	errCtrlLen = 256
)

// txPath is how warm the send path is for a chunk. The first reply's
// delay is 2–5 µs when the worker goes from one send to the next (hot)
// and several times that after it waited for requests (cold: caches,
// branch predictors and the core's frequency have moved on), so each has
// its own figure. Only a batch's first chunk can be cold.
type txPath uint8

const (
	pathHot txPath = iota
	pathCold
	numPaths
)

// txPredictor holds a worker's measured send path.
type txPredictor struct {
	first      [numPaths]window // the first reply's delay after the reading
	per        window           // each further reply's cost
	firstNs    [numPaths]int64  // first's stampQuantile
	perStampNs int64            // per's stampQuantile: the stamps' step
	perReplyNs int64            // per's median: sizes chunks
	budgetNs   int64
	lastCalNs  [numPaths]int64 // served time of the last calibration
}

// stampQuantile is the percentile of the measured delays a reply is
// stamped with: with windowLen 15, the second fastest of the last 15
// calibrations (one freak reading can not pull it down).
//
// Not the median: a stamp must not be later than the reply's departure.
// A late T3 shortens the client's measured delay by as much as it moves
// its offset, and clients keep their lowest-delay samples (RFC 5905
// section 10's clock filter, chronyd's likewise): the late replies are
// the ones they would select. An early T3 lengthens the delay and is
// filtered out. And the delays have a long tail that comes and goes with
// the host's load (a preempted send takes tens to hundreds of µs): a
// median taken over a busy spell stamps every quick reply after it late
// by the spell's delays. On a loaded CI machine, the end-to-end tests'
// kernel-timestamping client saw replies to single queries with delays
// of −11 and −13 µs, when the true loopback round trip is 1–3 µs
// (TestPredictorStampsNoLaterThanFastSends).
const stampQuantile = 10

func newTxPredictor(budgetNs int64) txPredictor {
	return txPredictor{firstNs: [numPaths]int64{firstDefaultNs, firstDefaultNs},
		perStampNs: perReplyDefaultNs, perReplyNs: perReplyDefaultNs, budgetNs: budgetNs}
}

// calibrationDue reports whether a chunk on path, read at nowNs, should
// measure the send path.
func (p *txPredictor) calibrationDue(nowNs int64, path txPath, polled bool) bool {
	every := int64(calibrateEveryNs)
	if polled {
		every = calibratePolledEveryNs
	}
	return nowNs-p.lastCalNs[path] >= every
}

// chunk is how many of the count replies to send in the next sendmmsg:
// as many as fit in the budget at the median per-reply cost. A reply's
// error grows with the slow sends before it in its chunk: a datagram that
// wakes its client costs several times the median, and a worker switched
// out inside sendmmsg tens of µs (which priority_linux.go prevents).
// Smaller chunks shorten that tail at the cost of the throughput lead;
// BENCHMARKS.md has both.
func (p *txPredictor) chunk(count int) int {
	k := 1
	if p.perReplyNs > 0 {
		k += int(p.budgetNs / p.perReplyNs)
	}
	return min(k, count)
}

// at is the predicted departure of reply j of a chunk on path read at
// nowNs.
func (p *txPredictor) at(nowNs int64, path txPath, j int) int64 {
	return nowNs + p.firstNs[path] + int64(j)*p.perStampNs
}

// learn updates the figures from a calibrated chunk on path: reply p1
// left d1 after the reading and reply p2 (> p1; -1 if only one was asked)
// d2 after it.
//
// Each figure is a percentile of its last windowLen samples (stamps:
// stampQuantile; chunk size: the median). The delays have a long tail (a
// datagram that wakes a client, an interrupt, a preemption: per-reply
// costs of 4 µs at the 10th percentile, 6 µs at the median and 24 µs at
// the 90th on loopback at capacity), which would drag a mean up and stamp
// every ordinary reply late; and a window forgets the very cold first
// sends after start within windowLen calibrations.
func (p *txPredictor) learn(path txPath, p1 int, d1 int64, p2 int, d2 int64) {
	if p2 > p1 {
		p.per.add(max((d2-d1)/int64(p2-p1), 0))
		p.perStampNs = p.per.quantile(stampQuantile)
		p.perReplyNs = p.per.quantile(50)
	}
	p.first[path].add(max(d1-int64(p1)*p.perStampNs, 0))
	p.firstNs[path] = p.first[path].quantile(stampQuantile)
}

// windowLen is how many calibrations a figure remembers.
const windowLen = 15

// window holds a figure's last windowLen samples.
type window struct {
	s    [windowLen]int64
	n, i int
}

func (w *window) add(x int64) {
	w.s[w.i] = x
	w.i = (w.i + 1) % windowLen
	w.n = min(w.n+1, windowLen)
}

// quantile is the q-th percentile (0..100) of the samples (0 if none),
// by sorting a copy: at most windowLen values, at most 200 times a second.
func (w *window) quantile(q int) int64 {
	if w.n == 0 {
		return 0
	}
	var c [windowLen]int64
	v := c[:w.n]
	copy(v, w.s[:w.n])
	slices.Sort(v)
	return v[min(w.n-1, w.n*q/100)]
}

// calSample is the calibration in flight: a chunk's clock reading and the
// first and last of its replies that asked for transmit timestamps, by
// position and receive timestamp (the key the error queue returns).
type calSample struct {
	path         txPath
	readNs       int64
	p1, p2       int // p2 -1: one reply only
	rx1, rx2     uint64
	d1, d2       int64
	have1, have2 bool
}

func (c *calSample) start(path txPath, readNs int64, p1 int, rx1 uint64, p2 int, rx2 uint64) {
	*c = calSample{path: path, readNs: readNs, p1: p1, rx1: rx1, p2: -1}
	if p2 > p1 {
		c.p2, c.rx2 = p2, rx2
	}
}

// took records a reply's transmit time (served ns) if it is one of the
// calibration's, and reports whether the calibration is then complete.
func (c *calSample) took(rx uint64, txNs int64) bool {
	switch {
	case rx == 0:
		return false
	case rx == c.rx1 && !c.have1:
		c.d1, c.have1 = txNs-c.readNs, true
	case c.p2 >= 0 && rx == c.rx2 && !c.have2:
		c.d2, c.have2 = txNs-c.readNs, true
	default:
		return false
	}
	return c.have1 && (c.p2 < 0 || c.have2)
}

func receiveField(reply []byte) uint64 { return binary.BigEndian.Uint64(reply[32:40]) }

// txCmsgLen is the control message asking for a reply's transmit
// timestamp.
var txCmsgLen = unix.CmsgSpace(4)

// putTxRequest appends to b the control message asking the kernel for the
// datagram's software transmit timestamp, and returns its length.
// SO_TIMESTAMPING (the _OLD number) is what every kernel since 4.13
// accepts in a control message; the flags are the same for both.
func putTxRequest(b []byte) int {
	clear(b[:txCmsgLen])
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SO_TIMESTAMPING_OLD
	h.SetLen(unix.CmsgLen(4))
	binary.NativeEndian.PutUint32(b[unix.CmsgLen(0):], unix.SOF_TIMESTAMPING_TX_SOFTWARE)
	return txCmsgLen
}

// readTxStamps drains the error queue: each message is a reply we asked
// the transmit timestamp of, with the datagram (whose last 48 bytes are
// the reply: its receive field identifies it). It records interleaved
// clients' transmit times and feeds the calibration. It never blocks and
// reads at most a few batches.
func (w *worker) readTxStamps() {
	for range 4 {
		for i := range w.ehdr {
			h := &w.ehdr[i].Hdr
			h.SetControllen(errCtrlLen)
			h.Flags = 0
		}
		n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(w.fd), uintptr(unsafe.Pointer(&w.ehdr[0])),
			uintptr(len(w.ehdr)), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT, 0, 0)
		if e != 0 || n == 0 {
			return
		}
		for i := range int(n) {
			l := int(w.ehdr[i].Len)
			if l < HeaderLen || l > errBufLen {
				continue
			}
			ctrl := w.ectrl[i*errCtrlLen : i*errCtrlLen+min(int(w.ehdr[i].Hdr.Controllen), errCtrlLen)]
			txRealNs, _, _, _ := parseControl(ctrl)
			if txRealNs == 0 {
				continue
			}
			reply := w.ebuf[i*errBufLen+l-HeaderLen : i*errBufLen+l]
			w.txStamped(reply, w.h.clock.Map(txRealNs))
		}
		if int(n) < len(w.ehdr) {
			return
		}
	}
}

// txStamped takes the kernel transmit time (served time) of a reply.
func (w *worker) txStamped(reply []byte, txNs int64) {
	rx := receiveField(reply)
	w.h.xl.put(rx, uint64(TimestampFromUnixNs(txNs)))
	if w.cal.took(rx, txNs) {
		w.tx.learn(w.cal.path, w.cal.p1, w.cal.d1, w.cal.p2, w.cal.d2)
		w.cal.rx1, w.cal.rx2 = 0, 0
	}
}
