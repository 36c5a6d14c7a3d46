package ntpserve

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
)

// fakeControl is a ControlSource with fixed associations: PPS (the PPS
// peer), GPS (candidate), one upstream (outlier) and one never reached.
type fakeControl struct{ st ControlStatus }

func (f *fakeControl) ControlStatus() ControlStatus {
	st := f.st
	st.Peers = append([]ControlPeer(nil), f.st.Peers...)
	return st
}

// ppsOffsetNs is the fake PPS peer's offset in ntpq's sign: it is what
// check_ntp_peer must report (in s) for the system peer.
const ppsOffsetNs = -250_000

func newFakeControl(nowNs int64) *fakeControl {
	return &fakeControl{st: ControlStatus{
		Version: "gpsntpd test", Processor: "amd64", System: "Linux/6.1",
		PollLog2: 4, MinPollLog2: 3, WanderPPM: 0.012,
		Peers: []ControlPeer{
			{AssocID: 11, Select: SelPPSPeer, Name: "PPS(0)", Addr: netip.MustParseAddrPort("127.127.22.0:123"),
				Clock: ClockPPS, RefID: "PPS", Reach: 0o377, PollLog2: 4, LastNs: nowNs - 3e9, RefTimeNs: nowNs - 3e9,
				PrecisionLog2: -20, OffsetNs: ppsOffsetNs, JitterNs: 1_200},
			{AssocID: 12, Select: SelCandidate, Name: "GPS_NMEA(0)", Addr: netip.MustParseAddrPort("127.127.20.0:123"),
				Clock: ClockGPS, RefID: "GPS", Reach: 0o376, PollLog2: 4, LastNs: nowNs - 1e9, PrecisionLog2: -20,
				OffsetNs: 12_345_678, JitterNs: 2_500_000},
			{AssocID: 13, Select: SelOutlier, Addr: netip.MustParseAddrPort("192.0.2.7:123"), Clock: ClockNTP,
				Stratum: 2, RefID: "198.51.100.1", Reach: 0o17, PollLog2: 6, LastNs: nowNs - 20e9,
				OffsetNs: -3_000_000, DelayNs: 20_500_000, JitterNs: 400_000, DispersionNs: 1_000_000},
			{AssocID: 14, Select: SelReject, Name: "time.example", Clock: ClockNTP, Stratum: 16, RefID: "INIT", PollLog2: 6},
		},
	}}
}

// ctlReq builds a mode 6 request as ntpq does: header, data, zero padding
// to 4 bytes.
func ctlReq(vn, op uint8, seq, assoc uint16, data string) []byte {
	b := make([]byte, ctlHeaderLen, ctlHeaderLen+len(data)+3)
	b[0] = vn<<3 | ModeControl
	b[1] = op
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint16(b[6:], assoc)
	binary.BigEndian.PutUint16(b[10:], uint16(len(data)))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// ctlAnswer is a reassembled reply.
type ctlAnswer struct {
	leap     uint8
	flags    uint8 // R, E bits of the last fragment
	status   uint16
	assocID  uint16
	data     []byte
	frags    int
	maxBytes int // largest fragment
	total    int // bytes sent
}

// reassemble checks every fragment as ntpq and check_ntp_peer do (mode 6,
// response, sequence and opcode echoed, padded to 4 bytes, at most
// 12 + 468 bytes, count within the datagram, contiguous offsets, More on
// all but the last) and joins their data.
func reassemble(req []byte, frags [][]byte) (ctlAnswer, error) {
	var a ctlAnswer
	if len(frags) == 0 {
		return a, fmt.Errorf("no reply")
	}
	for i, f := range frags {
		a.total += len(f)
		a.maxBytes = max(a.maxBytes, len(f))
		if len(f) < ctlHeaderLen || len(f) > ctlHeaderLen+ctlMaxData || len(f)%4 != 0 {
			return a, fmt.Errorf("fragment %d: %d bytes", i, len(f))
		}
		if f[0]&7 != ModeControl || f[0]>>3&7 != req[0]>>3&7 {
			return a, fmt.Errorf("fragment %d: mode/version byte %#x for request %#x", i, f[0], req[0])
		}
		if f[1]&ctlResponse == 0 || f[1]&ctlOpMask != req[1]&ctlOpMask || string(f[2:4]) != string(req[2:4]) {
			return a, fmt.Errorf("fragment %d: op %#x seq %x for request op %#x seq %x", i, f[1], f[2:4], req[1], req[2:4])
		}
		off := int(binary.BigEndian.Uint16(f[8:]))
		n := int(binary.BigEndian.Uint16(f[10:]))
		if off != len(a.data) || n > len(f)-ctlHeaderLen || (len(f)-ctlHeaderLen-n) > 3 {
			return a, fmt.Errorf("fragment %d: offset %d count %d in %d bytes after %d bytes of data", i, off, n, len(f), len(a.data))
		}
		more := f[1]&ctlMore != 0
		if more != (i < len(frags)-1) {
			return a, fmt.Errorf("fragment %d of %d: More = %v", i, len(frags), more)
		}
		a.data = append(a.data, f[ctlHeaderLen:ctlHeaderLen+n]...)
		a.leap, a.flags = f[0]>>6, f[1]&(ctlResponse|ctlError)
		a.status = binary.BigEndian.Uint16(f[4:])
		a.assocID = binary.BigEndian.Uint16(f[6:])
	}
	a.frags = len(frags)
	return a, nil
}

// ask runs one request through answerControl.
func ask(t *testing.T, req []byte, ref *discipline.Reference, st *ControlStatus) (ctlAnswer, Outcome) {
	t.Helper()
	var frags [][]byte
	out := answerControl(req, ref, time.Now().UnixNano(), st, func(b []byte) { frags = append(frags, append([]byte(nil), b...)) })
	if len(frags) == 0 {
		return ctlAnswer{}, out
	}
	a, err := reassemble(req, frags)
	if err != nil {
		t.Fatalf("reply to op %d assoc %d: %v", req[1], binary.BigEndian.Uint16(req[6:]), err)
	}
	return a, out
}

// vars parses name=value lists as ntpq's __parse_varlist does.
func vars(data []byte) map[string]string {
	m := map[string]string{}
	for _, item := range strings.Split(string(data), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(item), "=")
		if k != "" {
			m[k] = strings.Trim(v, `"`)
		}
	}
	return m
}

func TestControlReadStat(t *testing.T) {
	now := time.Now().UnixNano()
	fc := newFakeControl(now)
	ref := syncedRef(now - 5e9)
	a, out := ask(t, ctlReq(2, opReadStat, 7, 0, ""), ref, &fc.st)
	if out != OutControl || a.flags != ctlResponse {
		t.Fatalf("READSTAT: outcome %v flags %#x", out, a.flags)
	}
	// System status: leap 0, sync_pps (1), one event, clock_sync (5).
	if a.status != 0x0115 || a.leap != 0 {
		t.Errorf("READSTAT system status = %#04x leap %d, want 0x0115 leap 0", a.status, a.leap)
	}
	want := []struct {
		id     uint16
		status uint16
	}{
		{11, 0x9714}, // config, reach, pps.peer (7), 1 event, reachable (4)
		{12, 0x9414}, // candidate
		{13, 0x9314}, // outlier
		{14, 0x8013}, // config only, reject; 1 event, unreachable (3)
	}
	if len(a.data) != 4*len(want) {
		t.Fatalf("READSTAT data %x: want %d pairs", a.data, len(want))
	}
	for i, w := range want {
		id, st := binary.BigEndian.Uint16(a.data[4*i:]), binary.BigEndian.Uint16(a.data[4*i+2:])
		if id != w.id || st != w.status {
			t.Errorf("READSTAT pair %d = %d %#04x, want %d %#04x", i, id, st, w.id, w.status)
		}
		// check_ntp_peer's PEER_SEL and ntpq's tally.
		if sel := st >> 8 & 7; tallies[sel] != tallies[fc.st.Peers[i].Select] {
			t.Errorf("pair %d select %d", i, sel)
		}
	}
	// Unsynchronised: LI 3 in the header and the status word.
	a, _ = ask(t, ctlReq(2, opReadStat, 8, 0, ""), nil, &fc.st)
	if a.leap != 3 || a.status>>14 != 3 || a.status&0x3f00 != 0 {
		t.Errorf("READSTAT unsynchronised: leap %d status %#04x, want LI 3, sync_unspec", a.leap, a.status)
	}
}

func TestControlReadVar(t *testing.T) {
	now := time.Now().UnixNano()
	fc := newFakeControl(now)
	ref := syncedRef(now - 5e9)
	ref.OffsetNs, ref.JitterNs, ref.FreqPPB = 1500, 800, -12_345

	a, _ := ask(t, ctlReq(4, opReadVar, 1, 0, ""), ref, &fc.st)
	sys := vars(a.data)
	for k, v := range map[string]string{
		"version": "gpsntpd test", "processor": "amd64", "system": "Linux/6.1", "leap": "0", "stratum": "1",
		"precision": "-20", "rootdelay": "0.000000", "refid": "PPS", "peer": "11", "tc": "4", "mintc": "3",
		"offset": "-0.001500", "frequency": "-12.345000", "sys_jitter": "0.000800", "clk_jitter": "0.000800",
		"clk_wander": "0.012000",
	} {
		if sys[k] != v {
			t.Errorf("rv 0: %s=%q, want %q\n%s", k, sys[k], v, a.data)
		}
	}
	for _, k := range sysVarNames {
		if _, ok := sys[k]; !ok {
			t.Errorf("rv 0: no %s in %q", k, a.data)
		}
	}
	if !strings.HasSuffix(string(a.data), "\r\n") || strings.Contains(string(a.data), "\x00") {
		t.Errorf("rv 0 data %q: want text ending in CRLF", a.data)
	}
	for _, line := range strings.Split(string(a.data), "\r\n") {
		if len(line) > maxLineLen {
			t.Errorf("rv 0 line %q longer than %d", line, maxLineLen)
		}
	}
	if !strings.HasPrefix(sys["reftime"], "0x") || len(sys["clock"]) != len("0x00000000.00000000") {
		t.Errorf("reftime %q clock %q: want l_fp hex", sys["reftime"], sys["clock"])
	}

	// A peer, with check_ntp_peer's list: only those, in that order.
	a, _ = ask(t, ctlReq(2, opReadVar, 2, 11, "stratum,offset,jitter"), ref, &fc.st)
	if got := string(a.data); got != "stratum=0, offset=-0.250000, jitter=0.001200\r\n" {
		t.Errorf("readvar 11 stratum,offset,jitter = %q", got)
	}
	if a.status != 0x9714 || a.assocID != 11 {
		t.Errorf("readvar 11: status %#04x assoc %d", a.status, a.assocID)
	}
	// ntpq -p's full read of the upstream.
	a, _ = ask(t, ctlReq(2, opReadVar, 3, 13, ""), ref, &fc.st)
	up := vars(a.data)
	for k, v := range map[string]string{"srcadr": "192.0.2.7", "srcport": "123", "stratum": "2", "refid": "198.51.100.1",
		"reach": "0xf", "unreach": "0", "hmode": "3", "hpoll": "6", "delay": "20.500000", "offset": "-3.000000",
		"jitter": "0.400000", "dispersion": "1.000000"} {
		if up[k] != v {
			t.Errorf("rv 13: %s=%q, want %q\n%s", k, up[k], v, a.data)
		}
	}
	if _, ok := up["srchost"]; ok {
		t.Errorf("rv 13: srchost for a server configured by address: %q", a.data)
	}
	a, _ = ask(t, ctlReq(2, opReadVar, 4, 12, ""), ref, &fc.st)
	if g := vars(a.data); g["srchost"] != "GPS_NMEA(0)" || g["srcadr"] != "127.127.20.0" || g["refid"] != "GPS" {
		t.Errorf("rv 12: %q", a.data)
	}
	// Spaces, padding and values after = are ignored in a list.
	a, _ = ask(t, ctlReq(2, opReadVar, 5, 0, " stratum , refid=x,"), ref, &fc.st)
	if string(a.data) != "stratum=1, refid=PPS\r\n" {
		t.Errorf("rv 0 ' stratum , refid=x,' = %q", a.data)
	}
}

// The error replies are ntpd's and never longer than the request.
func TestControlErrors(t *testing.T) {
	now := time.Now().UnixNano()
	fc := newFakeControl(now)
	ref := syncedRef(now)
	for _, tc := range []struct {
		name string
		req  []byte
		code int // -1: no reply
	}{
		{"unknown variable", ctlReq(2, opReadVar, 1, 0, "stratum,nosuchvar"), errUnknownVar},
		{"unknown association", ctlReq(2, opReadVar, 1, 999, ""), errBadAssoc},
		{"readstat unknown association", ctlReq(2, opReadStat, 1, 999, ""), errBadAssoc},
		{"writevar", ctlReq(2, opWriteVar, 1, 0, "leap=3"), errPermission},
		{"writeclock", ctlReq(2, opWriteClock, 1, 0, ""), errPermission},
		{"configure", ctlReq(2, opConfigure, 1, 0, "server 192.0.2.1"), errPermission},
		{"saveconfig", ctlReq(2, opSaveConfig, 1, 0, "x"), errPermission},
		{"ifstats", ctlReq(2, opReadOrdA, 1, 0, "ifstats"), errPermission},
		{"readclock", ctlReq(2, opReadClock, 1, 0, ""), errBadOp},
		{"settrap", ctlReq(2, opSetTrap, 1, 0, ""), errBadOp},
		{"unsettrap", ctlReq(2, opUnsetTrap, 1, 0, ""), errBadOp},
		{"mrulist", ctlReq(2, opReadMRU, 1, 0, "nonce=1, frags=32"), errBadOp},
		{"nonce", ctlReq(2, opReqNonce, 1, 0, ""), errBadOp},
		{"opcode 0", ctlReq(2, 0, 1, 0, ""), errBadOp},
		{"opcode 20", ctlReq(2, 20, 1, 0, ""), errBadOp},
		{"asyncmsg", ctlReq(2, opAsyncMsg, 1, 0, ""), -1},
		{"a response", ctlReq(2, ctlResponse|opReadVar, 1, 0, ""), -1},
		{"more bit", ctlReq(2, ctlMore|opReadVar, 1, 0, ""), -1},
		{"short", ctlReq(2, opReadStat, 1, 0, "")[:11], -1},
		{"version 0", ctlReq(0, opReadStat, 1, 0, ""), -1},
		{"count beyond datagram", func() []byte { b := ctlReq(2, opReadVar, 1, 0, "abcd"); b[11] = 9; return b }(), -1},
		{"nonzero offset", func() []byte { b := ctlReq(2, opReadVar, 1, 0, ""); b[9] = 4; return b }(), -1},
	} {
		var sent [][]byte
		out := answerControl(tc.req, ref, now, &fc.st, func(b []byte) { sent = append(sent, append([]byte(nil), b...)) })
		if tc.code < 0 {
			if len(sent) != 0 || out == OutControl {
				t.Errorf("%s: %d replies, outcome %v; want none", tc.name, len(sent), out)
			}
			continue
		}
		a, err := reassemble(tc.req, sent)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if a.flags != ctlResponse|ctlError || int(a.status>>8) != tc.code || len(a.data) != 0 || a.total > len(tc.req) {
			t.Errorf("%s: flags %#x status %#04x, %d bytes for a %d-byte request; want error %d, no data",
				tc.name, a.flags, a.status, a.total, len(tc.req), tc.code)
		}
	}
}

// A reply longer than one fragment is split with More, offsets and
// counts that reassemble to the whole.
func TestControlFragments(t *testing.T) {
	now := time.Now().UnixNano()
	fc := newFakeControl(now)
	for i := range 300 {
		fc.st.Peers = append(fc.st.Peers, ControlPeer{AssocID: uint16(100 + i), Select: SelCandidate, Reach: 1})
	}
	a, _ := ask(t, ctlReq(2, opReadStat, 9, 0, ""), syncedRef(now), &fc.st)
	if a.frags != 3 || len(a.data) != 4*304 || a.maxBytes != ctlHeaderLen+ctlMaxData {
		t.Errorf("READSTAT of 304 associations: %d fragments, %d bytes, largest %d", a.frags, len(a.data), a.maxBytes)
	}
	for i := range 304 {
		if id := binary.BigEndian.Uint16(a.data[4*i:]); id != fc.st.Peers[i].AssocID {
			t.Fatalf("pair %d: assoc %d, want %d", i, id, fc.st.Peers[i].AssocID)
		}
	}
	// A long variable list (a long name) splits mid-text, as ntpd does.
	fc.st.Version = strings.Repeat("v", 700)
	a, _ = ask(t, ctlReq(2, opReadVar, 10, 0, ""), syncedRef(now), &fc.st)
	if a.frags < 2 || vars(a.data)["version"] != fc.st.Version || vars(a.data)["stratum"] != "1" {
		t.Errorf("rv 0 with a 700-byte version: %d fragments, %q", a.frags, a.data)
	}
}

// The limiter lets a burst through, then the refill rate, per client and
// in total; the table does not grow with clients.
func TestControlLimiter(t *testing.T) {
	var l controlLimiter
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("2001:db8::2")
	now := int64(1e12)
	n := 0
	for range 100 {
		if l.allow(a, now) {
			n++
		}
	}
	if n != controlPerClientBurst {
		t.Errorf("burst from one client: %d allowed, want %d", n, controlPerClientBurst)
	}
	if !l.allow(b, now) {
		t.Errorf("another client refused while the first is limited")
	}
	// One second later: the refill, no more.
	now += 1e9
	n = 0
	for range 100 {
		if l.allow(a, now) {
			n++
		}
	}
	if n != controlPerClientPerSec {
		t.Errorf("after 1 s: %d allowed, want %d", n, controlPerClientPerSec)
	}
	// Many clients: the global bucket bounds them all.
	var g controlLimiter
	n = 0
	for i := range 10_000 {
		if g.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now) {
			n++
		}
	}
	if n != controlGlobalBurst {
		t.Errorf("10000 clients at once: %d allowed, want the global burst %d", n, controlGlobalBurst)
	}
}

// handle passes mode 6 to control only where noquery is lifted and a
// ControlSource is configured; mode 7 never.
func TestControlAccess(t *testing.T) {
	h, _ := newTestHandler(t, syncedRef(time.Now().UnixNano()), "default noquery", "127.0.0.1")
	h.ctl = newFakeControl(0)
	req := ctlReq(2, opReadVar, 1, 0, "")
	for len(req) < HeaderLen {
		req = append(req, 0) // handle's length check is tested below
	}
	resp := make([]byte, HeaderLen)
	for _, tc := range []struct {
		src  string
		mode uint8
		ctl  bool
		want Outcome
	}{
		{"127.0.0.1", ModeControl, true, OutControl},
		{"127.0.0.2", ModeControl, true, OutDropQuery},
		{"192.0.2.1", ModeControl, true, OutDropQuery},
		{"127.0.0.1", ModeControl, false, OutDropQuery},
		{"127.0.0.1", ModePrivate, true, OutDropQuery},
	} {
		r := append([]byte(nil), req...)
		r[0] = r[0]&^7 | tc.mode
		h.ctl = nil
		if tc.ctl {
			h.ctl = newFakeControl(0)
		}
		if _, got := h.handle(r, resp, netip.MustParseAddr(tc.src), 0); got != tc.want {
			t.Errorf("handle(mode %d from %s, control %v) = %v, want %v", tc.mode, tc.src, tc.ctl, got, tc.want)
		}
	}
}

func TestControlShortRequest(t *testing.T) {
	h, _ := newTestHandler(t, syncedRef(time.Now().UnixNano()))
	h.ctl = newFakeControl(0)
	mode3 := make([]byte, ctlHeaderLen)
	mode3[0] = 4<<3 | ModeClient
	for _, tc := range []struct {
		name string
		req  []byte
		want Outcome
	}{
		{"ntpq's 12-byte READSTAT", ctlReq(2, opReadStat, 1, 0, ""), OutControl},
		{"11 bytes of mode 6", ctlReq(2, opReadStat, 1, 0, "")[:11], OutDropMalformed},
		{"12 bytes of mode 3", mode3, OutDropMalformed},
	} {
		if _, got := h.handle(tc.req, make([]byte, HeaderLen), netip.MustParseAddr("127.0.0.1"), 0); got != tc.want {
			t.Errorf("handle(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzControl(f *testing.F) {
	for _, s := range [][]byte{
		ctlReq(2, opReadStat, 1, 0, ""),
		ctlReq(4, opReadVar, 2, 0, ""),
		ctlReq(2, opReadVar, 3, 11, "stratum,offset,jitter"),
		ctlReq(2, opReadVar, 3, 13, "srcadr,srcport,dstadr,refid,reach,delay,offset,jitter"),
		ctlReq(2, opReadStat, 4, 12, ""),
		ctlReq(2, opWriteVar, 5, 0, "leap=3"),
		ctlReq(2, opReadMRU, 6, 0, "nonce=abc, frags=32, laddr=127.0.0.1"),
		ctlReq(2, opConfigure, 7, 0, "server 192.0.2.1"),
		ctlReq(2, 0x1f, 8, 0, ""),
	} {
		f.Add(s)
	}
	now := time.Now().UnixNano()
	fc := newFakeControl(now)
	ref := syncedRef(now)
	f.Fuzz(func(t *testing.T, req []byte) {
		var sent [][]byte
		out := answerControl(req, ref, now, &fc.st, func(b []byte) { sent = append(sent, append([]byte(nil), b...)) })
		if len(sent) == 0 {
			if out == OutControl {
				t.Fatalf("outcome %v with nothing sent", out)
			}
			return
		}
		if out != OutControl {
			t.Fatalf("sent %d fragments with outcome %v", len(sent), out)
		}
		a, err := reassemble(req, sent)
		if err != nil {
			t.Fatalf("request %x: %v", req, err)
		}
		op := req[1] & ctlOpMask
		if op != opReadStat && op != opReadVar || a.flags&ctlError != 0 {
			if a.total > len(req) {
				t.Fatalf("request %x (op %d): %d bytes sent, more than the %d received", req, op, a.total, len(req))
			}
		}
		if a.frags > ctlMaxFrags {
			t.Fatalf("%d fragments", a.frags)
		}
	})
}
