package ntpserve

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// fakeClock serves realtime + offsetNs (or a fixed time when fixedNs is
// set) and records what it was asked to map.
type fakeClock struct {
	offsetNs int64
	fixedNs  int64
	maps     atomic.Int64
	lastMap  atomic.Int64
	nows     atomic.Int64
}

func (c *fakeClock) Now() int64 {
	c.nows.Add(1)
	if c.fixedNs != 0 {
		return c.fixedNs
	}
	return time.Now().UnixNano() + c.offsetNs
}

func (c *fakeClock) Map(realtimeNs int64) int64 {
	c.maps.Add(1)
	c.lastMap.Store(realtimeNs)
	return realtimeNs + c.offsetNs
}

func syncedRef(refTimeNs int64) *discipline.Reference {
	return &discipline.Reference{
		State:                discipline.PPS,
		Synchronised:         true,
		Leap:                 discipline.LeapNone,
		Stratum:              1,
		RefID:                [4]byte{'P', 'P', 'S', 0},
		RefTimeNs:            refTimeNs,
		RootDelayNs:          0,
		RootDispersionNs:     2_000,  // 2 µs
		DispersionRateNsPerS: 15_000, // 15 ppm
		Precision:            -20,
	}
}

func refPtr(r *discipline.Reference) *atomic.Pointer[discipline.Reference] {
	p := &atomic.Pointer[discipline.Reference]{}
	p.Store(r)
	return p
}

// request builds a 48-byte request.
func request(vn, mode uint8, poll int8, xmt Timestamp) []byte {
	h := Header{Version: vn, Mode: mode, Poll: poll, Precision: -6, Transmit: xmt}
	b := make([]byte, HeaderLen)
	h.Encode(b)
	return b
}

var (
	client4 = netip.MustParseAddr("192.0.2.7")
	client6 = netip.MustParseAddr("2001:db8::7")
)

const testRxNs int64 = 1_800_000_000_123_456_789 // 2027-01-15, CLOCK_REALTIME

func newTestHandler(t testing.TB, ref *discipline.Reference, rules ...string) (*handler, *fakeClock) {
	t.Helper()
	var rs []restrict.Rule
	for _, line := range rules {
		r, err := restrict.ParseRestrict(splitWords(line))
		if err != nil {
			t.Fatalf("ParseRestrict(%q): %v", line, err)
		}
		rs = append(rs, r)
	}
	clk := &fakeClock{offsetNs: 1_500_000_000}
	h := &handler{clock: clk, ref: refPtr(ref), lim: newLimiter(1024)}
	var table *restrict.Table
	if len(rs) > 0 {
		table = restrict.NewTable(rs)
	}
	h.setAccess(table, nil)
	return h, clk
}

func splitWords(s string) []string {
	var out []string
	w := ""
	for _, c := range s + " " {
		if c == ' ' {
			if w != "" {
				out = append(out, w)
			}
			w = ""
			continue
		}
		w += string(c)
	}
	return out
}

func TestHandleSynchronised(t *testing.T) {
	refNs := testRxNs + 1_500_000_000 - 10*nsPerSecond // updated 10 s before the request (served time)
	h, clk := newTestHandler(t, syncedRef(refNs))
	xmt := Timestamp(0xDEADBEEF_01234567)
	for _, vn := range []uint8{1, 2, 3, 4} {
		req := request(vn, ModeClient, 6, xmt)
		resp := make([]byte, HeaderLen)
		n, out := h.handle(req, resp, client4, testRxNs)
		if n != HeaderLen || out != OutReply {
			t.Fatalf("v%d: handle = %d, %v; want 48, OutReply", vn, n, out)
		}
		var g Header
		_ = g.Decode(resp)
		want := Header{
			Leap: 0, Version: vn, Mode: ModeServer, Stratum: 1, Poll: 6, Precision: -20,
			RootDelay: 0,
			// 2 µs + 10 s × 15 µs/s = 152 µs, rounded up to 2^-16 s.
			RootDispersion: ShortFromNs(152_000),
			RefID:          [4]byte{'P', 'P', 'S', 0},
			RefTime:        TimestampFromUnixNs(refNs),
			Origin:         xmt,
			Receive:        TimestampFromUnixNs(testRxNs + 1_500_000_000),
			Transmit:       0, // stamped by the socket layer
		}
		if g != want {
			t.Errorf("v%d: reply = %+v\nwant %+v", vn, g, want)
		}
	}
	if clk.lastMap.Load() != testRxNs {
		t.Errorf("Clock.Map got %d, want the kernel receive time %d", clk.lastMap.Load(), testRxNs)
	}
}

func TestHandleUnsynchronised(t *testing.T) {
	unsync := syncedRef(testRxNs)
	unsync.Synchronised = false
	unsync.State = discipline.Unsynchronised
	unsync.Leap = discipline.LeapAlarm
	alarmButSynced := syncedRef(testRxNs)
	alarmButSynced.Leap = discipline.LeapAlarm
	stratum0 := syncedRef(testRxNs)
	stratum0.Stratum = 0
	for _, tc := range []struct {
		name string
		ref  *discipline.Reference
		prec int8
	}{
		{"nil snapshot", nil, defaultPrecision},
		{"unsynchronised", unsync, -20},
		{"leap alarm", alarmButSynced, -20},
		{"stratum 0", stratum0, -20},
	} {
		h, _ := newTestHandler(t, tc.ref)
		req := request(4, ModeClient, 10, 0x1122334455667788)
		resp := make([]byte, HeaderLen)
		n, out := h.handle(req, resp, client4, testRxNs)
		if n != HeaderLen || out != OutReplyUnsync {
			t.Fatalf("%s: handle = %d, %v; want 48, OutReplyUnsync", tc.name, n, out)
		}
		var g Header
		_ = g.Decode(resp)
		// chronyd 4.3 unsynchronised, as captured: e4 00 0a e7 00010000 00010000 00000000 0…
		want := Header{
			Leap: 3, Version: 4, Mode: ModeServer, Stratum: 0, Poll: 10, Precision: tc.prec,
			RootDelay: 1 << 16, RootDispersion: 1 << 16,
			Origin:  0x1122334455667788,
			Receive: TimestampFromUnixNs(testRxNs + 1_500_000_000),
		}
		if g != want {
			t.Errorf("%s: reply = %+v\nwant %+v", tc.name, g, want)
		}
	}
}

func TestHandleModesAndVersions(t *testing.T) {
	h, _ := newTestHandler(t, syncedRef(testRxNs))
	hp, _ := newTestHandler(t, syncedRef(testRxNs), "default nopeer")
	tests := []struct {
		name     string
		h        *handler
		vn, mode uint8
		want     Outcome
		wantMode uint8
	}{
		{"v4 client", h, 4, ModeClient, OutReply, ModeServer},
		{"v1 client", h, 1, ModeClient, OutReply, ModeServer},
		{"v1 mode 0 is a client", h, 1, ModeReserved, OutReply, ModeServer},
		{"v4 mode 0", h, 4, ModeReserved, OutDropMode, 0},
		{"v0", h, 0, ModeClient, OutDropVersion, 0},
		{"v5", h, 5, ModeClient, OutDropVersion, 0},
		{"v7", h, 7, ModeClient, OutDropVersion, 0},
		{"symmetric active", h, 4, ModeSymActive, OutReply, ModeSymPassive},
		{"symmetric active, nopeer", hp, 4, ModeSymActive, OutDropPeer, 0},
		{"symmetric passive", h, 4, ModeSymPassive, OutDropMode, 0},
		{"server", h, 4, ModeServer, OutDropMode, 0},
		{"broadcast", h, 4, ModeBroadcast, OutDropMode, 0},
		{"control (ntpq)", h, 2, ModeControl, OutDropQuery, 0},
		{"private (monlist)", h, 2, ModePrivate, OutDropQuery, 0},
	}
	for _, tt := range tests {
		resp := make([]byte, HeaderLen)
		n, out := tt.h.handle(request(tt.vn, tt.mode, 6, 1), resp, client4, testRxNs)
		if out != tt.want {
			t.Errorf("%s: outcome = %v, want %v", tt.name, out, tt.want)
			continue
		}
		if tt.want.replies() != (n > 0) {
			t.Errorf("%s: n = %d with outcome %v", tt.name, n, out)
		}
		if n > 0 && resp[0]&7 != tt.wantMode {
			t.Errorf("%s: reply mode = %d, want %d", tt.name, resp[0]&7, tt.wantMode)
		}
	}
	// Short packets, whatever they hold.
	for l := range HeaderLen {
		if n, out := h.handle(make([]byte, l), make([]byte, HeaderLen), client4, testRxNs); n != 0 || out != OutDropMalformed {
			t.Errorf("handle(%d bytes) = %d, %v; want 0, OutDropMalformed", l, n, out)
		}
	}
}

func TestHandleRestrictFlags(t *testing.T) {
	rules := []string{
		"default kod limited nomodify notrap nopeer noquery",
		"-6 default kod limited nomodify notrap nopeer noquery",
		"127.0.0.1",
		"::1",
		"198.51.100.0 mask 255.255.255.0 ignore",
		"198.51.100.99 noserve",
		"203.0.113.0/24 notrust",
		"2001:db8:bad::/48 ignore",
		"192.0.2.128/25 version",
	}
	h, _ := newTestHandler(t, syncedRef(testRxNs), rules...)
	tests := []struct {
		src  string
		vn   uint8
		mode uint8
		want Outcome
	}{
		{"127.0.0.1", 4, ModeSymActive, OutReply}, // localhost unrestricted: peer allowed
		{"::1", 4, ModeSymActive, OutReply},
		{"192.0.2.7", 4, ModeSymActive, OutDropPeer}, // default nopeer
		{"2001:db8::7", 4, ModeSymActive, OutDropPeer},
		{"192.0.2.7", 4, ModeClient, OutReply},
		{"198.51.100.1", 4, ModeClient, OutDropRestrict},    // ignore
		{"198.51.100.1", 4, ModeControl, OutDropRestrict},   // ignore: before anything
		{"198.51.100.1", 0, ModeClient, OutDropRestrict},    // ignore: even garbage
		{"198.51.100.99", 4, ModeClient, OutDropRestrict},   // more specific noserve (mask inherited? no: own rule)
		{"198.51.100.99", 4, ModeControl, OutDropQuery},     // noserve leaves queries, which we never answer
		{"203.0.113.5", 4, ModeClient, OutDropRestrict},     // notrust: we authenticate nothing
		{"2001:db8:bad::1", 4, ModeClient, OutDropRestrict}, // v6 ignore
		{"2001:db8:bae::1", 4, ModeClient, OutReply},
		{"192.0.2.200", 3, ModeClient, OutDropRestrict}, // version: v4 only
		{"192.0.2.200", 4, ModeClient, OutReply},
		{"::ffff:198.51.100.1", 4, ModeClient, OutDropRestrict}, // v4-mapped matches v4 rules
	}
	for _, tt := range tests {
		src := netip.MustParseAddr(tt.src)
		_, out := h.handle(request(tt.vn, tt.mode, 6, 1), make([]byte, HeaderLen), src, testRxNs)
		if out != tt.want {
			t.Errorf("handle(v%d mode %d from %s) = %v, want %v", tt.vn, tt.mode, tt.src, out, tt.want)
		}
	}
}

func TestHandleKoD(t *testing.T) {
	h, _ := newTestHandler(t, syncedRef(testRxNs), "default kod limited")
	hq, _ := newTestHandler(t, syncedRef(testRxNs), "default limited")
	xmt := Timestamp(0xCAFEF00D_12345678)
	var kods, drops, replies int
	var kodResp []byte
	for i := range 40 {
		resp := make([]byte, HeaderLen)
		rx := testRxNs + int64(i)*nsPerSecond/4 // 4 per second: hammering
		n, out := h.handle(request(4, ModeClient, 0, xmt), resp, client4, rx)
		switch out {
		case OutKoD:
			kods++
			kodResp = resp[:n]
		case OutDropRate:
			drops++
		case OutReply:
			replies++
		default:
			t.Fatalf("packet %d: outcome %v", i, out)
		}
		// Same client without kod: never a KoD.
		if _, out := hq.handle(request(4, ModeClient, 0, xmt), resp, client4, rx); out == OutKoD {
			t.Fatalf("packet %d: KoD sent without the kod flag", i)
		}
	}
	if kods != 1 || drops == 0 || replies == 0 {
		t.Fatalf("40 packets at 4/s: %d replies, %d KoD, %d dropped; want some replies, exactly 1 KoD, the rest dropped", replies, kods, drops)
	}
	var g Header
	_ = g.Decode(kodResp)
	want := Header{
		Leap: 3, Version: 4, Mode: ModeServer, Stratum: 0, Poll: 3, Precision: -6,
		RefID: [4]byte{'R', 'A', 'T', 'E'}, Origin: xmt, Receive: xmt, Transmit: xmt,
	}
	if g != want {
		t.Errorf("KoD = %+v\nwant %+v", g, want)
	}
}

// TestAmplification: no input produces a reply larger than itself.
func TestAmplification(t *testing.T) {
	h, _ := newTestHandler(t, syncedRef(testRxNs), "default kod limited")
	resp := make([]byte, 1024)
	for l := 0; l <= 200; l++ {
		for first := 0; first < 256; first++ {
			req := make([]byte, l)
			if l > 0 {
				req[0] = byte(first)
			}
			n, out := h.handle(req, resp, client4, testRxNs+int64(first)*nsPerSecond)
			if n > len(req) {
				t.Fatalf("len %d first byte %#x: reply %d bytes (%v)", l, first, n, out)
			}
			if out.replies() != (n > 0) {
				t.Fatalf("len %d first byte %#x: n %d, outcome %v", l, first, n, out)
			}
		}
	}
}

func TestHandleAllocs(t *testing.T) {
	h, _ := newTestHandler(t, syncedRef(testRxNs), "default kod limited nopeer noquery", "2001:db8::/32 noserve")
	req := request(4, ModeClient, 6, 1)
	resp := make([]byte, HeaderLen)
	rx := int64(testRxNs)
	allocs := testing.AllocsPerRun(2000, func() {
		rx += 10 * nsPerSecond
		h.handle(req, resp, client4, rx)
		h.handle(req, resp, client6, rx)
		h.handle(req, resp, netip.AddrFrom4([4]byte{10, byte(rx >> 8), byte(rx >> 16), byte(rx >> 24)}), rx)
		putTransmit(resp, TimestampFromUnixNs(h.clock.Now()))
	})
	if allocs != 0 {
		t.Errorf("handle allocs per run = %v, want 0", allocs)
	}
}

func FuzzHandle(f *testing.F) {
	f.Add(request(4, ModeClient, 6, 1), []byte{192, 0, 2, 1}, int64(0))
	f.Add(request(1, ModeReserved, 0, 0), []byte{127, 0, 0, 1}, int64(1))
	f.Add(request(4, ModeSymActive, 17, 1<<63), []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, int64(5e9))
	f.Add(append(request(4, ModeClient, 6, 1), make([]byte, 20)...), []byte{10, 0, 0, 1}, int64(-1))
	f.Add([]byte{0x17, 0, 3, 0x2a}, []byte{10, 0, 0, 1}, int64(0))
	h, _ := newTestHandler(f, syncedRef(testRxNs), "default kod limited nopeer", "10.0.0.0/8 noserve", "192.0.2.0/24 ignore")
	resp := make([]byte, 2048)
	f.Fuzz(func(t *testing.T, req, srcBytes []byte, dtNs int64) {
		src, ok := netip.AddrFromSlice(srcBytes)
		if !ok {
			src = client4
		}
		n, out := h.handle(req, resp, src, testRxNs+dtNs%(1<<40))
		if n > len(req) {
			t.Fatalf("reply %d bytes > request %d (%v)", n, len(req), out)
		}
		if out >= NumOutcomes {
			t.Fatalf("outcome %d out of range", out)
		}
		if !out.replies() {
			if n != 0 {
				t.Fatalf("outcome %v with %d bytes", out, n)
			}
			return
		}
		if n != HeaderLen {
			t.Fatalf("reply %d bytes, want 48", n)
		}
		var q, r Header
		_ = q.Decode(req)
		_ = r.Decode(resp)
		if r.Origin != q.Transmit {
			t.Fatalf("origin %#x, want client transmit %#x", r.Origin, q.Transmit)
		}
		if r.Version != q.Version || (r.Mode != ModeServer && r.Mode != ModeSymPassive) {
			t.Fatalf("reply v%d mode %d to v%d mode %d", r.Version, r.Mode, q.Version, q.Mode)
		}
		if binary.BigEndian.Uint32(resp[12:16]) == 0 && r.Stratum != 0 {
			t.Fatalf("refid 0 with stratum %d", r.Stratum)
		}
	})
}

// The discipline's clock backends serve through this package's Clock.
var _ Clock = discipline.Clock(nil)
