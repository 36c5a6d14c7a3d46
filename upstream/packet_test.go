package upstream

import (
	"errors"
	"testing"

	"github.com/gpsntp/gpsntp/ntpserve"
)

const nonce = ntpserve.Timestamp(0x1234_5678_9abc_def0)

// goodReply is a stratum 1 server's reply to request nonce.
func goodReply() ntpserve.Header {
	t := ntpserve.TimestampFromUnixNs(1_750_000_000_000_000_000)
	return ntpserve.Header{Leap: 0, Version: 4, Mode: 4, Stratum: 1, Precision: -20, RootDelay: 0, RootDispersion: 10,
		RefID: [4]byte{'P', 'P', 'S'}, RefTime: t - 1<<32, Origin: nonce, Receive: t, Transmit: t + 100}
}

func TestCheckReply(t *testing.T) {
	for _, c := range []struct {
		name   string
		mod    func(h *ntpserve.Header)
		want   error
		kiss   string
		length int
	}{
		{"good", func(h *ntpserve.Header) {}, nil, "", 48},
		{"short", func(h *ntpserve.Header) {}, errShort, "", 47},
		{"version 5", func(h *ntpserve.Header) { h.Version = 5 }, errVersion, "", 48},
		{"client mode", func(h *ntpserve.Header) { h.Mode = 3 }, errMode, "", 48},
		{"broadcast", func(h *ntpserve.Header) { h.Mode = 5 }, errMode, "", 48},
		{"wrong origin", func(h *ntpserve.Header) { h.Origin++ }, errOrigin, "", 48},
		{"stratum 16", func(h *ntpserve.Header) { h.Stratum = 16 }, errStratum, "", 48},
		{"leap alarm", func(h *ntpserve.Header) { h.Leap = 3 }, errLeapAlarm, "", 48},
		{"zero receive", func(h *ntpserve.Header) { h.Receive = 0 }, errZeroTimes, "", 48},
		{"zero transmit", func(h *ntpserve.Header) { h.Transmit = 0 }, errZeroTimes, "", 48},
		{"zero reftime", func(h *ntpserve.Header) { h.RefTime = 0 }, errRefTime, "", 48},
		{"reftime in the future", func(h *ntpserve.Header) { h.RefTime = h.Transmit + 1<<32 }, errRefTime, "", 48},
		{"transmit before receive", func(h *ntpserve.Header) { h.Transmit = h.Receive - 1<<32 }, errHold, "", 48},
		{"root distance 1.5 s", func(h *ntpserve.Header) { h.RootDispersion = ntpserve.ShortFromNs(1_500_000_000) }, errRootDist, "", 48},
		{"KoD RATE", func(h *ntpserve.Header) { h.Stratum, h.Leap, h.RefID = 0, 3, [4]byte{'R', 'A', 'T', 'E'} }, nil, "RATE", 48},
		{"KoD DENY", func(h *ntpserve.Header) { h.Stratum, h.RefID = 0, [4]byte{'D', 'E', 'N', 'Y'} }, nil, "DENY", 48},
		{"KoD RSTR", func(h *ntpserve.Header) { h.Stratum, h.RefID = 0, [4]byte{'R', 'S', 'T', 'R'} }, nil, "RSTR", 48},
		{"KoD for someone else", func(h *ntpserve.Header) { h.Stratum, h.RefID, h.Origin = 0, [4]byte{'D', 'E', 'N', 'Y'}, 1 }, errOrigin, "", 48},
		{"unknown kiss", func(h *ntpserve.Header) { h.Stratum, h.RefID = 0, [4]byte{'I', 'N', 'I', 'T'} }, errKissUnknown, "", 48},
		{"with extension bytes", func(h *ntpserve.Header) {}, nil, "", 68},
	} {
		h := goodReply()
		c.mod(&h)
		b := make([]byte, 68)
		h.Encode(b)
		_, kiss, err := checkReply(b[:c.length], nonce)
		if !errors.Is(err, c.want) || kiss != c.kiss {
			t.Errorf("%s: checkReply = %q, %v; want %q, %v", c.name, kiss, err, c.kiss, c.want)
		}
	}
	// Nothing is accepted when no request is outstanding.
	b := make([]byte, 48)
	h := goodReply()
	h.Origin = 0
	h.Encode(b)
	if _, _, err := checkReply(b, 0); !errors.Is(err, errOrigin) {
		t.Errorf("checkReply(origin 0, none outstanding) = %v, want errOrigin", err)
	}
}

func TestMeasure(t *testing.T) {
	// Server 1 s ahead, 10 ms each way, 1 ms in the server.
	t1 := int64(1_750_000_000_000_000_000)
	h := goodReply()
	h.Receive = ntpserve.TimestampFromUnixNs(t1 + 1e9 + 10e6)
	h.Transmit = ntpserve.TimestampFromUnixNs(t1 + 1e9 + 11e6)
	m := measure(h, t1, t1+21e6)
	if abs(m.offsetNs-1e9) > 2 || abs(m.delayNs-20e6) > 2 {
		t.Errorf("measure = offset %v delay %v, want 1e9, 20e6", m.offsetNs, m.delayNs)
	}
	// At boot our clock says 1970: the offset is decades, decoded in the
	// right era.
	m = measure(h, 5e9, 5e9+21e6)
	if want := float64(t1 + 1e9 - 5e9); abs(m.offsetNs-want) > 1e6 {
		t.Errorf("measure from 1970 = offset %v, want %v", m.offsetNs, want)
	}
}

func abs(x float64) float64 { return max(x, -x) }

// FuzzReply: no datagram panics checkReply, and nothing it accepts fails
// a check of RFC 5905 section 8, re-stated here on the decoded header.
func FuzzReply(f *testing.F) {
	b := make([]byte, 48)
	h := goodReply()
	h.Encode(b)
	f.Add(append([]byte(nil), b...), uint64(nonce))
	h.Stratum, h.RefID = 0, [4]byte{'R', 'A', 'T', 'E'}
	h.Encode(b)
	f.Add(append([]byte(nil), b...), uint64(nonce))
	f.Add([]byte{0x24, 1, 6, 0xec}, uint64(1))
	f.Fuzz(func(t *testing.T, b []byte, want uint64) {
		h, kiss, err := checkReply(b, ntpserve.Timestamp(want))
		if err != nil {
			return
		}
		var d ntpserve.Header
		if d.Decode(b) != nil {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if d != h || d.Mode != 4 || d.Version < 1 || d.Version > 4 || want == 0 || uint64(d.Origin) != want {
			t.Fatalf("accepted %+v for origin %x", d, want)
		}
		if kiss != "" {
			if d.Stratum != 0 || string(d.RefID[:]) != kiss {
				t.Fatalf("kiss %q from %+v", kiss, d)
			}
			return
		}
		if d.Stratum < 1 || d.Stratum > 15 || d.Leap == 3 || d.Receive == 0 || d.Transmit == 0 || d.RefTime == 0 ||
			d.RootDelay.Ns()/2+d.RootDispersion.Ns() >= maxDistNs || int64(d.Transmit-d.Receive) < 0 {
			t.Fatalf("accepted %+v", d)
		}
		m := measure(d, 1_750_000_000_000_000_000, 1_750_000_000_001_000_000)
		if m.delayNs < localPrecisionNs || m.dispNs <= 0 {
			t.Fatalf("measure(%+v) = %+v", d, m)
		}
	})
}
