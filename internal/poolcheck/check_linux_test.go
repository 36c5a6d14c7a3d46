//go:build linux

package poolcheck

import (
	"context"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// hostClock serves this machine's time plus offsetNs, as a Soft clock
// with that correction would.
type hostClock struct{ offsetNs int64 }

func (c hostClock) Now() int64             { return time.Now().UnixNano() + c.offsetNs }
func (c hostClock) Map(realNs int64) int64 { return realNs + c.offsetNs }

func synced() *discipline.Reference {
	return &discipline.Reference{
		State: discipline.PPS, Synchronised: true, Leap: discipline.LeapNone, Stratum: 1,
		RefID: [4]byte{'P', 'P', 'S', 0}, RefTimeNs: time.Now().UnixNano(),
		RootDispersionNs: 2000, DispersionRateNsPerS: 15000, Precision: -20,
	}
}

// serve runs our own NTP server on loopback until the test ends: ref
// published, clock offsetNs ahead of the host, restrict lines and discard
// limits as in gpsntp.conf.
func serve(t *testing.T, ref *discipline.Reference, offsetNs int64, d *restrict.Discard, rules ...string) netip.AddrPort {
	t.Helper()
	p := &atomic.Pointer[discipline.Reference]{}
	p.Store(ref)
	cfg := ntpserve.Config{Listen: []string{"127.0.0.1:0"}, Clock: hostClock{offsetNs}, Ref: p, Workers: 1, Discard: d}
	if len(rules) > 0 {
		var rs []restrict.Rule
		for _, line := range rules {
			r, err := restrict.ParseRestrict(strings.Fields(line))
			if err != nil {
				t.Fatalf("restrict %s: %v", line, err)
			}
			rs = append(rs, r)
		}
		cfg.Restrict = restrict.NewTable(rs)
	}
	s, err := ntpserve.New(cfg)
	if err != nil {
		t.Fatalf("ntpserve.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return s.Addrs()[0]
}

// run makes n checks of addr with the given spacing and interval; the
// per-query timeout is generous except where nothing will answer.
func run(t *testing.T, addr netip.AddrPort, n int, spacing, interval, timeout time.Duration) []Checked {
	t.Helper()
	c, err := NewChecker(Config{Addr: addr, Spacing: spacing, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	checks, err := c.Run(ctx, Scoring{}, n, interval, nil)
	if err != nil || len(checks) != n {
		t.Fatalf("Run: %d checks, %v; want %d", len(checks), err, n)
	}
	return checks
}

// tally is the monitor's score of steps from 0.
func tally(steps ...float64) float64 {
	s := 0.0
	for _, st := range steps {
		s = Next(s, st, MaxScore)
	}
	return s
}

// Our own server serving good time scores +1 every check: after n checks
// 20·(1−0.95^n), in the Pool (above 10) from the 14th.
func TestGoodServerScores20(t *testing.T) {
	addr := serve(t, synced(), 0, nil)
	const n = 40
	checks := run(t, addr, n, 5*time.Millisecond, 10*time.Millisecond, 5*time.Second)
	for i, c := range checks {
		if c.Result.Kind != Replied || c.Step != 1 || c.Reason != "" || len(c.Queries) != 3 {
			t.Fatalf("check %d: %v step %v reason %q, %d queries; want a reply, +1, 3 queries", i+1, c.Result.Kind, c.Step, c.Reason, len(c.Queries))
		}
		for j, q := range c.Queries {
			if !q.KernelStamp {
				t.Errorf("check %d query %d: no kernel receive timestamp", i+1, j+1)
			}
		}
	}
	want := 20 * (1 - math.Pow(0.95, n))
	if got := checks[n-1].Score; math.Abs(got-want) > 1e-9 {
		t.Errorf("score after %d good checks = %v, want %v", n, got, want)
	}
	if checks[12].Score > InThreshold || checks[13].Score <= InThreshold {
		t.Errorf("scores after 13 and 14 checks = %v, %v; want the 14th to cross %v", checks[12].Score, checks[13].Score, InThreshold)
	}
	p := Project(checks[n-1].Score, Steps(checks))
	if !p.In || math.Abs(p.SettleLow-20) > 1e-6 || p.CrossAt != -1 {
		t.Errorf("projection after %d good checks: %+v; want in, settling at 20, no crossing", n, p)
	}
}

// A server 100 ms ahead is dinged as the monitor does (+0.5 at 100 ms),
// with the reason saying by how much.
func TestOffsetBeyondLimit(t *testing.T) {
	addr := serve(t, synced(), 100*msNs, nil)
	checks := run(t, addr, 2, 5*time.Millisecond, 10*time.Millisecond, 5*time.Second)
	for i, c := range checks {
		if c.Result.Kind != Replied || c.Step < 0.4 || c.Step > 0.6 || !strings.Contains(c.Reason, "beyond the 25ms limit") {
			t.Errorf("check %d: %v offset %d ns step %v reason %q; want about +0.5, beyond the 25ms limit", i+1, c.Result.Kind, c.Result.OffsetNs, c.Step, c.Reason)
		}
	}
}

// `restrict default kod limited` with a minimum spacing the fast pattern
// breaks: the second query of each check gets a KoD RATE, which ends the
// check at −3.5. The checks are 4.5 s apart so that each check's first
// query is within the limits again (4 s rounded ≥ minimum 4, the bucket
// drained below 8 headways).
func TestKoDRate(t *testing.T) {
	addr := serve(t, synced(), 0, &restrict.Discard{AverageLog2: 0, MinimumS: 4}, "default kod limited", "-6 default kod limited")
	checks := run(t, addr, 3, 100*time.Millisecond, 4500*time.Millisecond, 5*time.Second)
	var steps []float64
	for i, c := range checks {
		steps = append(steps, c.Step)
		if c.Result.Kind != KissRate || c.Result.Query != 2 || c.Step != -3.5 || !strings.Contains(c.Reason, "RATE") {
			t.Errorf("check %d: %v on query %d step %v reason %q; want KoD RATE on query 2, -3.5", i+1, c.Result.Kind, c.Result.Query, c.Step, c.Reason)
		}
	}
	if got, want := checks[2].Score, tally(steps...); got != want || want != tally(-3.5, -3.5, -3.5) {
		t.Errorf("score after 3 KoD checks = %v, want %v", got, tally(-3.5, -3.5, -3.5))
	}
}

// A server that does not answer (restrict ignore), or nothing listening
// at all: −5 a check.
func TestNoReply(t *testing.T) {
	ignoring := serve(t, synced(), 0, nil, "default ignore", "-6 default ignore")
	// A port nothing listens on: bind one, then free it.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	for _, tc := range []struct {
		name string
		addr netip.AddrPort
		err  string
	}{{"restrict ignore", ignoring, "no answer within"}, {"nothing listening", closed, "refused"}} {
		checks := run(t, tc.addr, 2, 5*time.Millisecond, 10*time.Millisecond, 300*time.Millisecond)
		for i, c := range checks {
			if c.Result.Kind != NoReply || c.Step != -5 || len(c.Queries) != 3 || !strings.Contains(c.Queries[0].Error, tc.err) {
				t.Errorf("%s: check %d: %v step %v, %d queries, first %q; want no reply, -5, 3 queries, %q", tc.name, i+1, c.Result.Kind, c.Step, len(c.Queries), c.Queries[0].Error, tc.err)
			}
		}
		if got := checks[1].Score; got != tally(-5, -5) {
			t.Errorf("%s: score after 2 checks = %v, want %v", tc.name, got, tally(-5, -5))
		}
	}
}

// A reference not synchronised (and none at all): our server answers
// leap 3, stratum 0, and the monitor docks −4 at the first query.
func TestUnsynchronised(t *testing.T) {
	unsync := synced()
	unsync.Synchronised, unsync.State, unsync.Leap = false, discipline.Unsynchronised, discipline.LeapAlarm
	for _, tc := range []struct {
		name string
		ref  *discipline.Reference
	}{{"not synchronised", unsync}, {"no reference yet", nil}} {
		addr := serve(t, tc.ref, 0, nil)
		checks := run(t, addr, 2, 5*time.Millisecond, 10*time.Millisecond, 5*time.Second)
		for i, c := range checks {
			if c.Result.Kind != Unsync || c.Result.Query != 1 || c.Step != -4 || !strings.Contains(c.Reason, "leap indicator 3, stratum 0") {
				t.Errorf("%s: check %d: %v query %d step %v reason %q; want unsynchronised at query 1, -4", tc.name, i+1, c.Result.Kind, c.Result.Query, c.Step, c.Reason)
			}
		}
		if got := checks[1].Score; got != tally(-4, -4) {
			t.Errorf("%s: score = %v, want %v", tc.name, got, tally(-4, -4))
		}
	}
}

// responder answers every request with what reply builds from it; it
// first sends a reply with the wrong origin, which the checker must ignore.
func responder(t *testing.T, reply func(req ntpserve.Header) ntpserve.Header) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var req ntpserve.Header
			if req.Decode(buf[:n]) != nil {
				continue
			}
			out := make([]byte, ntpserve.HeaderLen)
			stray := reply(req)
			stray.Origin++
			stray.Encode(out)
			pc.WriteToUDPAddrPort(out, from)
			h := reply(req)
			h.Encode(out)
			pc.WriteToUDPAddrPort(out, from)
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// Kisses our server never sends, and a stratum the monitor docks.
func TestDenyAndStratum(t *testing.T) {
	deny := responder(t, func(req ntpserve.Header) ntpserve.Header {
		return ntpserve.Header{Leap: 3, Version: 4, Mode: 4, RefID: [4]byte{'D', 'E', 'N', 'Y'}, Origin: req.Transmit}
	})
	checks := run(t, deny, 2, 5*time.Millisecond, 10*time.Millisecond, 5*time.Second)
	if c := checks[0]; c.Result.Kind != KissDeny || c.Step != -10 || c.Score != -50 || len(c.Queries) != 1 {
		t.Errorf("DENY: %v step %v score %v, %d queries; want KoD DENY, -10, held at -50, 1 query", c.Result.Kind, c.Step, c.Score, len(c.Queries))
	}
	if got, want := checks[1].Score, Next(Next(0, -10, -50), -10, -50); got != want || want != -57.5 {
		t.Errorf("DENY twice: score %v, want -57.5 (0.95·-50 - 10, already below the -50 cap)", got)
	}
	s9 := responder(t, func(req ntpserve.Header) ntpserve.Header {
		now := ntpserve.TimestampFromUnixNs(time.Now().UnixNano())
		return ntpserve.Header{Version: 4, Mode: 4, Stratum: 9, RefTime: now, Origin: req.Transmit, Receive: now, Transmit: now}
	})
	checks = run(t, s9, 1, 5*time.Millisecond, 10*time.Millisecond, 5*time.Second)
	if c := checks[0]; c.Result.Kind != StratumHigh || c.Step != -4 || len(c.Queries) != 3 || !strings.Contains(c.Reason, "stratum 9") {
		t.Errorf("stratum 9: %v step %v reason %q, %d queries; want stratum, -4, 3 queries", c.Result.Kind, c.Step, c.Reason, len(c.Queries))
	}
}

// A check and its wait stop when the context ends; what was checked is
// returned without an error.
func TestRunStops(t *testing.T) {
	addr := serve(t, synced(), 0, nil)
	c, err := NewChecker(Config{Addr: addr, Spacing: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan []Checked, 1)
	go func() {
		checks, err := c.Run(ctx, Scoring{}, 0, time.Hour, func(Checked) { cancel() })
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		got <- checks
	}()
	select {
	case checks := <-got:
		if len(checks) != 1 {
			t.Errorf("Run cancelled after the first check: %d checks, want 1", len(checks))
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not stop when its context ended")
	}
}
