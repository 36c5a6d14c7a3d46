package upstream

import (
	"errors"
	"fmt"

	"github.com/gpsntp/gpsntp/ntpserve"
)

// RFC 5905 constants, in ns where they are times.
const (
	// phiPPM is PHI, the frequency tolerance: every dispersion grows at
	// 15 ppm of the time since its measurement (RFC 5905 section 7.2).
	phiPPM = 15
	// maxDistNs is MAXDIST: a source further than 1.5 s (root distance)
	// is not fit to be selected (RFC 5905 section 11.2.1). Replies that
	// claim more are dropped on arrival.
	maxDistNs = 1_500_000_000
	// maxDispNs is MAXDISP, the dispersion of "nothing known" (16 s).
	maxDispNs = 16_000_000_000
	// minDispNs floors the delay term of the root distance. RFC 5905 uses
	// 10 ms (MINDISP); 1 ms keeps the bound honest on a LAN yet not below
	// what scheduling adds to a user-space client on a loaded board.
	minDispNs = 1_000_000
	// localPrecisionNs is our side's reading precision (the served clock
	// is read in ns, scheduling jitter dominates: about 1 µs).
	localPrecisionNs = 1000
	// pivotFloorNs is the least pivot for decoding NTP timestamps
	// (2024-01-01): a Pi boots in 1970, and a pivot there would put
	// timestamps after 2038 in the wrong era.
	pivotFloorNs = 1_704_067_200 * 1_000_000_000
)

// Kiss codes this client acts on (RFC 5905 section 7.4).
const (
	KissRate = "RATE" // reduce the poll rate
	KissDeny = "DENY" // access denied: stop polling
	KissRstr = "RSTR" // access restricted: stop polling
)

// Reasons a reply is dropped (RFC 5905 section 8, the packet checks),
// counted per association and shown as its last error.
var (
	errShort       = errors.New("shorter than 48 bytes")
	errVersion     = errors.New("version not 1–4")
	errMode        = errors.New("not a server reply (mode ≠ 4)")
	errOrigin      = errors.New("origin timestamp is not our request's (late, duplicate or forged)")
	errKissUnknown = errors.New("kiss-o'-death with an unknown code")
	errStratum     = errors.New("stratum 16 or more (unsynchronised)")
	errLeapAlarm   = errors.New("leap indicator 3 (server unsynchronised)")
	errZeroTimes   = errors.New("receive or transmit timestamp zero")
	errRefTime     = errors.New("reference time zero or after the transmit time")
	errHold        = errors.New("transmit timestamp before receive timestamp")
	errRootDist    = errors.New("root distance 1.5 s or more")
)

// newRequest encodes a client (mode 3) request into b (at least 48
// bytes). Its transmit timestamp is nonce, a random number and not our
// clock: the server echoes it as the reply's origin, which proves the
// reply answers this request (64 bits an off-path attacker cannot guess),
// and our time is not sent in the clear (chrony does the same). Every
// other field is zero: a client has nothing to tell the server.
func newRequest(b []byte, nonce ntpserve.Timestamp, pollLog2 int8) int {
	h := ntpserve.Header{Version: 4, Mode: ntpserve.ModeClient, Poll: pollLog2, Transmit: nonce}
	return h.Encode(b)
}

// checkReply checks a datagram as RFC 5905 section 8 says, as an ordered
// list of early returns. want is the transmit timestamp (nonce) of our
// outstanding request; 0 means none is outstanding, and every datagram is
// refused. A kiss-o'-death that answers our request returns its code in
// kiss and a nil error: the caller acts on it.
func checkReply(b []byte, want ntpserve.Timestamp) (h ntpserve.Header, kiss string, err error) {
	if err := h.Decode(b); err != nil {
		return h, "", errShort
	}
	switch {
	case h.Version < 1 || h.Version > 4:
		return h, "", errVersion
	case h.Mode != ntpserve.ModeServer:
		return h, "", errMode
	case want == 0 || h.Origin != want:
		return h, "", errOrigin
	case h.Stratum == 0:
		// A kiss-o'-death: refid is four ASCII letters (section 7.4).
		code := string(h.RefID[:])
		switch code {
		case KissRate, KissDeny, KissRstr:
			return h, code, nil
		}
		return h, "", fmt.Errorf("%w %q", errKissUnknown, printable(h.RefID))
	case h.Stratum >= 16:
		return h, "", errStratum
	case h.Leap == 3:
		return h, "", errLeapAlarm
	case h.Receive == 0 || h.Transmit == 0:
		return h, "", errZeroTimes
	case h.RefTime == 0 || int64(h.Transmit-h.RefTime) < 0:
		return h, "", errRefTime
	case int64(h.Transmit-h.Receive) < 0:
		return h, "", errHold
	case h.RootDelay.Ns()/2+h.RootDispersion.Ns() >= maxDistNs:
		return h, "", errRootDist
	}
	return h, "", nil
}

// printable is a refid as text, non-printing bytes as '?'.
func printable(id [4]byte) string {
	b := id
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b[:])
}

// measurement is what one accepted reply says (RFC 5905 section 8):
// offset (the server's time minus ours, positive: we are behind), round
// trip delay, and the sample's dispersion, all in ns, at t4Ns.
type measurement struct {
	offsetNs, delayNs, dispNs float64
	atNs                      int64
	// slewedNs is Config.Slews at atNs: the offset holds for the clock as
	// it was slewed then (filter.eval re-expresses it).
	slewedNs float64
}

// measure computes a measurement from a checked reply and our send and
// receive times t1Ns, t4Ns (served clock, ns since the Unix epoch).
func measure(h ntpserve.Header, t1Ns, t4Ns int64) measurement {
	pivot := max(t1Ns, pivotFloorNs)
	t2 := h.Receive.UnixNs(pivot)
	t3 := h.Transmit.UnixNs(pivot)
	offset := (float64(t2-t1Ns) + float64(t3-t4Ns)) / 2
	delay := float64((t4Ns - t1Ns) - (t3 - t2))
	delay = max(delay, localPrecisionNs) // never below what we can read
	serverPrec := precisionNs(h.Precision)
	disp := serverPrec + localPrecisionNs + phiPPM*1e-6*float64(t4Ns-t1Ns)
	return measurement{offsetNs: offset, delayNs: delay, dispNs: disp, atNs: t4Ns}
}

// precisionNs is 2^log2 s in ns.
func precisionNs(log2 int8) float64 {
	p := 1e9
	for i := int8(0); i > log2 && i > -64; i-- {
		p /= 2
	}
	for i := int8(0); i < log2 && i < 64; i++ {
		p *= 2
	}
	return p
}
