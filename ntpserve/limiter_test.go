package ntpserve

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

const sec = int64(nsPerSecond)

// testLimiter is a limiter with fixed discard limits.
type testLimiter struct {
	*limiter
	lim limits
}

func newTestLimiter(entries int, d restrict.Discard) testLimiter {
	return testLimiter{newLimiter(entries), newLimits(d)}
}

func (l testLimiter) check(src netip.Addr, nowNs int64, kod bool) limitDecision {
	return l.limiter.check(src, nowNs, kod, &l.lim)
}

// run feeds the limiter one client's packets at the given times (ns) and
// counts decisions.
func run(l testLimiter, src netip.Addr, times []int64) (pass, drop, kod int) {
	for _, t := range times {
		switch l.check(src, t, false) {
		case limitPass:
			pass++
		case limitDrop:
			drop++
		case limitKoD:
			kod++
		}
	}
	return
}

func TestLimiterNeverLimitsPoolMonitor(t *testing.T) {
	// Each pool monitor sends 3 queries 2 s apart about every 9 minutes,
	// with jitter; several monitors may share a NAT'd address in tests of
	// the worst case, so also try 3 bursts back to back.
	rng := rand.New(rand.NewPCG(1, 2))
	l := newTestLimiter(1024, restrict.DefaultDiscard)
	src := netip.MustParseAddr("198.51.100.10")
	var times []int64
	t0 := int64(1_700_000_000) * sec
	for burst := range 200 {
		start := t0 + int64(burst)*540*sec + rng.Int64N(60*sec) - 30*sec
		for q := range 3 {
			jitter := rng.Int64N(200_000_000) - 100_000_000 // ±100 ms
			times = append(times, start+int64(q)*2*sec+jitter)
		}
	}
	if pass, drop, kod := run(l, src, times); drop+kod != 0 {
		t.Errorf("pool monitor pattern: %d passed, %d dropped, %d KoD; want none limited", pass, drop, kod)
	}
}

func TestLimiterPollers(t *testing.T) {
	tests := []struct {
		name   string
		times  func() []int64
		wantOK bool
	}{
		{"64 s poller", func() []int64 { return every(0, 64*sec, 500) }, true},
		{"16 s poller (ntpd minpoll 4)", func() []int64 { return every(0, 16*sec, 500) }, true},
		{"8 s poller (discard average 3)", func() []int64 { return every(0, 8*sec, 500) }, true},
		{"ntpd iburst then 64 s", func() []int64 { return append(every(0, 2*sec, 8), every(80*sec, 64*sec, 100)...) }, true},
		{"chrony iburst (4 × 2 s) then 64 s", func() []int64 { return append(every(0, 2*sec, 4), every(70*sec, 64*sec, 100)...) }, true},
		{"1 s hammer", func() []int64 { return every(0, sec, 200) }, false},
		{"100/s hammer", func() []int64 { return every(0, sec/100, 2000) }, false},
	}
	for _, tt := range tests {
		l := newTestLimiter(64, restrict.DefaultDiscard)
		pass, drop, kod := run(l, client4, tt.times())
		if ok := drop+kod == 0; ok != tt.wantOK {
			t.Errorf("%s: %d passed, %d dropped, %d KoD; want limited = %v", tt.name, pass, drop, kod, !tt.wantOK)
		}
	}
}

func every(start, step int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = start + int64(i)*step
	}
	return out
}

func TestLimiterHammerCutOff(t *testing.T) {
	tests := []struct {
		name    string
		step    int64
		n       int
		maxPass int
		maxKoD  int
	}{
		// Below the minimum spacing every packet after the first is
		// limited, and the bucket never drains while it keeps coming:
		// one KoD in all.
		{"10/s for 600 s", sec / 10, 6000, 1, 1},
		{"1000/s for 10 s", sec / 1000, 10000, 1, 1},
		// Above the minimum but over the average: a few answers until the
		// bucket fills, then KoD at most once per 8 s headway.
		{"every 3 s for 600 s", 3 * sec, 200, 25, 200 * 3 / 8},
		{"every 5 s for 600 s", 5 * sec, 120, 60, 120 * 5 / 8},
	}
	for _, tt := range tests {
		l := newTestLimiter(64, restrict.DefaultDiscard)
		pass, drop, kod := run(l, client4, every(0, tt.step, tt.n))
		if pass > tt.maxPass || kod > tt.maxKoD || drop+kod == 0 {
			t.Errorf("%s: %d passed, %d dropped, %d KoD; want ≤ %d passed, ≤ %d KoD, some limited",
				tt.name, pass, drop, kod, tt.maxPass, tt.maxKoD)
		}
		// It recovers once it calms down to a sane poll.
		end := int64(tt.n) * tt.step
		if p, _, _ := run(l, client4, every(end+120*sec, 64*sec, 20)); p != 20 {
			t.Errorf("%s, then 64 s polls: %d of 20 passed", tt.name, p)
		}
	}
}

func TestLimiterMillionAddresses(t *testing.T) {
	// A million distinct sources (a scan, or spoofing) go through a
	// 4096-entry table: memory stays what it was, no allocation happens,
	// and a client hammering in the middle of the flood stays limited
	// because eviction takes drained entries first.
	l := newTestLimiter(4096, restrict.DefaultDiscard)
	if l.capacity() != 4096 {
		t.Fatalf("capacity = %d, want 4096", l.capacity())
	}
	hammer := netip.MustParseAddr("2001:db8:ffff::1")
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	now := int64(1_700_000_000) * sec
	var hPass, hLimited int
	for i := range 1_000_000 {
		now += sec / 10_000 // 10k packets/s of flood: 100 s in all
		var a [16]byte
		a[0], a[1] = 0x20, 0x01
		a[12], a[13], a[14], a[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		if l.check(netip.AddrFrom16(a), now, false) != limitPass {
			t.Fatalf("flood address %d limited on its first packet", i)
		}
		if i%1000 == 0 { // the hammerer: 10 packets/s
			if l.check(hammer, now, false) == limitPass {
				hPass++
			} else {
				hLimited++
			}
		}
	}
	runtime.ReadMemStats(&m1)
	if d := m1.Mallocs - m0.Mallocs; d > 100 {
		t.Errorf("1M addresses: %d allocations, want ~0", d)
	}
	if d := int64(m1.HeapAlloc) - int64(m0.HeapAlloc); d > 1<<20 {
		t.Errorf("1M addresses: heap grew by %d bytes, want bounded", d)
	}
	if hLimited < 800 {
		t.Errorf("hammerer in the flood: %d passed, %d limited; want it limited (it was forgotten)", hPass, hLimited)
	}
}

func TestLimiterDiscardSettings(t *testing.T) {
	// discard minimum 10: a 5 s poller is limited even with little volume.
	l := newTestLimiter(64, restrict.Discard{AverageLog2: 3, MinimumS: 10})
	if _, drop, kod := run(l, client4, every(0, 5*sec, 3)); drop+kod == 0 {
		t.Errorf("minimum 10, packets 5 s apart: none limited")
	}
	// discard average 0 (1 s), minimum 0: 1 packet/s passes forever.
	l = newTestLimiter(64, restrict.Discard{AverageLog2: 0, MinimumS: 0})
	if _, drop, kod := run(l, client4, every(0, sec, 1000)); drop+kod != 0 {
		t.Errorf("average 0: 1/s limited %d times", drop+kod)
	}
}

func TestLimiterClockStepBack(t *testing.T) {
	l := newTestLimiter(64, restrict.DefaultDiscard)
	times := append(every(1000*sec, 64*sec, 5), every(0, 64*sec, 5)...) // stepped back 1000 s
	if _, drop, kod := run(l, client4, times); drop+kod != 0 {
		t.Errorf("64 s poller across a backward step: limited %d times", drop+kod)
	}
}

func BenchmarkLimiter(b *testing.B) {
	l := newTestLimiter(32768, restrict.DefaultDiscard)
	addrs := make([]netip.Addr, 100_000)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	now := int64(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now += 1000
		l.check(addrs[i%len(addrs)], now, false)
	}
}

func TestLimiterTop(t *testing.T) {
	l := newTestLimiter(1024, restrict.DefaultDiscard)
	const t0 = int64(1_800_000_000) * nsPerSecond
	quiet := netip.MustParseAddr("192.0.2.1")
	poller := netip.MustParseAddr("2001:db8::64")
	hammer := netip.MustParseAddr("198.51.100.9")
	l.check(quiet, t0, true)
	for i := range 10 {
		l.check(poller, t0+int64(i)*64*nsPerSecond, true)
	}
	for i := range 100 {
		l.check(hammer, t0+int64(i)*nsPerSecond/100, true)
	}
	got := l.top(2)
	if len(got) != 2 {
		t.Fatalf("top(2) = %d clients, want 2: %+v", len(got), got)
	}
	h, p := got[0], got[1]
	if h.Addr != hammer || h.Packets != 100 || h.Limited < 90 || h.KoD != 1 {
		t.Errorf("top(2)[0] = %+v, want %v with 100 packets, ≥ 90 limited, 1 KoD", h, hammer)
	}
	if !h.FirstSeen.Equal(time.Unix(0, t0)) || !h.LastSeen.Equal(time.Unix(0, t0+99*nsPerSecond/100)) {
		t.Errorf("top(2)[0] seen %v..%v, want the first and last receive times", h.FirstSeen, h.LastSeen)
	}
	if p.Addr != poller || p.Packets != 10 || p.Limited != 0 || p.KoD != 0 {
		t.Errorf("top(2)[1] = %+v, want %v with 10 packets, none limited", p, poller)
	}
	if all := l.top(100); len(all) != 3 || all[2].Addr != quiet {
		t.Errorf("top(100) = %+v, want 3 clients, %v last", all, quiet)
	}
	if got := l.top(0); got != nil {
		t.Errorf("top(0) = %+v, want nil", got)
	}
	// The list refreshed later shows the packets since, without a walk;
	// an address the table does not hold keeps its figures.
	l.check(poller, t0+3600*nsPerSecond, true)
	gone := ClientStat{Addr: netip.MustParseAddr("203.0.113.77"), Packets: 5}
	list := []ClientStat{h, p, gone}
	l.refresh(list)
	if list[1].Packets != 11 || !list[1].LastSeen.Equal(time.Unix(0, t0+3600*nsPerSecond)) {
		t.Errorf("refreshed poller = %+v, want 11 packets, last seen at its new packet", list[1])
	}
	if list[0] != h || list[2] != gone {
		t.Errorf("refresh changed %+v and %+v, want them as they were", list[0], list[2])
	}
	// Without `kod`, limited packets are not counted as KoD.
	l2 := newTestLimiter(64, restrict.DefaultDiscard)
	for i := range 50 {
		l2.check(hammer, t0+int64(i), false)
	}
	if got := l2.top(1); len(got) != 1 || got[0].KoD != 0 || got[0].Limited == 0 {
		t.Errorf("no kod: top(1) = %+v, want limited packets and no KoD", got)
	}
}

// TestLimiterTopBounded: a full table of a million-address flood still
// gives at most n (and never more than 1000) clients, sorted.
func TestLimiterTopBounded(t *testing.T) {
	l := newTestLimiter(4096, restrict.DefaultDiscard)
	rng := rand.New(rand.NewPCG(3, 4))
	now := int64(1_800_000_000) * nsPerSecond
	for range 200_000 {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], rng.Uint32())
		l.check(netip.AddrFrom4(a), now, false)
		now += 1000
	}
	for _, n := range []int{1, 10, 5000} {
		got := l.top(n)
		if want := min(n, maxTopClients); len(got) != want {
			t.Errorf("top(%d) = %d clients, want %d", n, len(got), want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Packets > got[i-1].Packets {
				t.Errorf("top(%d) not sorted at %d: %d > %d", n, i, got[i].Packets, got[i-1].Packets)
				break
			}
		}
	}
}
