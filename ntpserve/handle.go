package ntpserve

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// Clock is what the server needs from a clock backend (discipline.Clock
// satisfies it): served time now, and the mapping of a kernel
// CLOCK_REALTIME receive timestamp to served time. Both in ns since the Unix
// epoch; both must be safe for concurrent use and allocation-free.
type Clock interface {
	Now() int64
	Map(realtimeNs int64) int64
}

// stampsTransmit reports whether the reply's transmit timestamp must be set
// from the clock just before sending (not for KoD, which echoes the
// client's timestamp and reveals nothing).
func (o Outcome) stampsTransmit() bool { return o == OutReply || o == OutReplyUnsync }

// defaultPrecision (log2 s, about 1 µs) is advertised when there is no
// reference snapshot yet to take the measured precision from.
const defaultPrecision = -20

// unsyncRoot is 1 s in the short format: chronyd 4.3 puts it in both root
// delay and root dispersion when unsynchronised (checked on the wire).
const unsyncRoot Short = 1 << 16

var kissRATE = [4]byte{'R', 'A', 'T', 'E'}

// handler is the packet path without sockets: a pure function of the
// request, its source, its kernel receive time, the clock and the published
// reference snapshot.
type handler struct {
	clock Clock
	ref   *atomic.Pointer[discipline.Reference]
	acc   atomic.Pointer[access] // never nil once set up (setAccess)
	lim   *limiter
	// userStamps: a socket could not get kernel receive timestamps.
	userStamps atomic.Bool
	// ctl answers mode 6 reads (nil: mode 6 is dropped); see mode6.go.
	ctl ControlSource
	// xl holds the kernel transmit times of replies to interleaved
	// clients (xleave.go); nil in handler-only tests.
	xl *xleaveTable
}

// access is the access control a packet is judged by: the restrict table
// and the discard limits, replaced together by Server.SetAccess so that a
// packet sees the old pair or the new one, never a mix.
type access struct {
	table *restrict.Table // nil: everyone served, unlimited
	lim   limits
}

// setAccess publishes a new table and discard limits (nil: ntpd's
// defaults). Packets load the pair once each: no lock, no allocation.
func (h *handler) setAccess(t *restrict.Table, d *restrict.Discard) {
	dd := restrict.DefaultDiscard
	if d != nil {
		dd = *d
	}
	h.acc.Store(&access{table: t, lim: newLimits(dd)})
}

// handle decides what to do with one request and, if it is to be answered,
// encodes the reply into resp (len ≥ HeaderLen) and returns its length. The
// transmit timestamp is left for the caller to stamp last (see
// Outcome.stampsTransmit). The path is an ordered list of early returns:
// parse, access, mode, rate, build; the caller sends.
func (h *handler) handle(req, resp []byte, src netip.Addr, rxRealNs int64) (int, Outcome) {
	// Parse. Only the first byte and a few fields are needed; anything after
	// the header (extension fields, MAC) is ignored, so an authenticated or
	// NTS request gets a plain, shorter, unauthenticated reply.
	// Mode 6 requests are a 12-byte header and their data (ntpq sends 12
	// bytes for READSTAT): control parses them itself.
	if len(req) < HeaderLen && (len(req) < ctlHeaderLen || req[0]&7 != ModeControl) {
		return 0, OutDropMalformed
	}
	vn := req[0] >> 3 & 7
	mode := req[0] & 7

	// Access. `ignore` drops before anything else is looked at.
	acc := h.acc.Load()
	flags := acc.table.Lookup(src)
	if flags&restrict.Ignore != 0 {
		return 0, OutDropRestrict
	}
	if vn < 1 || vn > 4 {
		return 0, OutDropVersion
	}

	// Mode.
	replyMode := uint8(ModeServer)
	switch mode {
	case ModeClient:
	case ModeReserved:
		// NTPv1 had no mode field; ntpd treats v1 mode 0 as a client.
		if vn != 1 {
			return 0, OutDropMode
		}
	case ModeSymActive:
		if flags&(restrict.NoPeer|restrict.NoEPeer) != 0 {
			return 0, OutDropPeer
		}
		replyMode = ModeSymPassive // as chronyd answers an unknown peer
	case ModeControl:
		// Mode 6 (ntpq) reads, only where the restrict rule lifts noquery
		// and a ControlSource is configured; the caller answers through
		// h.control (mode6.go), which may send several fragments.
		if flags&restrict.NoQuery != 0 || h.ctl == nil {
			return 0, OutDropQuery
		}
		return 0, OutControl
	case ModePrivate:
		// No mode 7 service at all: the classic amplification vector
		// (monlist) has nothing to answer with.
		return 0, OutDropQuery
	default:
		return 0, OutDropMode
	}
	if flags&(restrict.NoServe|restrict.NoTrust) != 0 {
		return 0, OutDropRestrict
	}
	if flags&restrict.Version != 0 && vn != 4 {
		return 0, OutDropRestrict
	}

	// Rate.
	if flags&restrict.Limited != 0 && h.lim != nil {
		switch h.lim.check(src, rxRealNs, flags&restrict.KoD != 0, &acc.lim) {
		case limitDrop:
			return 0, OutDropRate
		case limitKoD:
			if flags&restrict.KoD == 0 {
				return 0, OutDropRate
			}
			return buildKoD(req, resp, vn, replyMode, acc.lim.minpollLog2), OutKoD
		}
	}

	// Build.
	return h.build(req, resp, vn, replyMode, rxRealNs)
}

func (h *handler) build(req, resp []byte, vn, replyMode uint8, rxRealNs int64) (int, Outcome) {
	ref := h.ref.Load()
	rxNs := h.clock.Map(rxRealNs)
	hd := Header{
		Version:  vn,
		Mode:     replyMode,
		Poll:     int8(req[2]), // echoed, as chronyd does
		Origin:   Timestamp(binary.BigEndian.Uint64(req[40:48])),
		Receive:  TimestampFromUnixNs(rxNs),
		Transmit: 0, // stamped by the caller just before sending
	}
	out := OutReply
	if ref == nil || !ref.Synchronised || ref.Leap == discipline.LeapAlarm ||
		ref.Stratum == 0 || ref.Stratum >= 16 {
		// What chronyd 4.3 sends with no synchronised source (observed on
		// the wire): LI 3, stratum 0, refid 0, reference time 0, root delay
		// and dispersion 1 s, real receive and transmit times. Clients
		// (beevik Validate, chronyd, ntpd) refuse it; the pool scores it
		// as unsynchronised rather than as unreachable.
		out = OutReplyUnsync
		hd.Leap = uint8(discipline.LeapAlarm)
		hd.Precision = defaultPrecision
		if ref != nil {
			hd.Precision = ref.Precision
		}
		hd.RootDelay = unsyncRoot
		hd.RootDispersion = unsyncRoot
	} else {
		hd.Leap = uint8(ref.Leap)
		hd.Stratum = ref.Stratum
		hd.Precision = ref.Precision
		hd.RootDelay = ShortFromNs(ref.RootDelayNs)
		// Root dispersion at the moment of the reply: the bound at the
		// last update grown since (RFC 5905 section 11.2), so holdover is
		// honest on the wire.
		hd.RootDispersion = ShortFromNs(ref.RootDispersionAt(rxNs))
		hd.RefID = ref.RefID
		hd.RefTime = TimestampFromUnixNs(ref.RefTimeNs)
	}
	n := hd.Encode(resp)
	if n == 0 || n > len(req) {
		// Cannot happen (requests are at least a header long); kept as
		// the last line of defence against amplification.
		return 0, OutDropMalformed
	}
	return n, out
}

// buildKoD encodes a kiss-o'-death RATE (RFC 5905 section 7.4) as ntpd
// does: LI 3, stratum 0, refid "RATE", poll at least the discard average
// (minpollLog2), the client's precision, and the client's transmit
// timestamp in origin, receive and transmit, so it reveals nothing about
// our clock.
func buildKoD(req, resp []byte, vn, replyMode uint8, minpollLog2 int8) int {
	xmt := Timestamp(binary.BigEndian.Uint64(req[40:48]))
	hd := Header{
		Leap:      uint8(discipline.LeapAlarm),
		Version:   vn,
		Mode:      replyMode,
		Stratum:   0,
		Poll:      max(int8(req[2]), minpollLog2),
		Precision: int8(req[3]),
		RefID:     kissRATE,
		Origin:    xmt,
		Receive:   xmt,
		Transmit:  xmt,
	}
	return hd.Encode(resp)
}
