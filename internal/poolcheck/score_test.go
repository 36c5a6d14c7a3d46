package poolcheck

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve"
)

const msNs = int64(time.Millisecond)

func reply(offsetNs int64) Result {
	return Result{Kind: Replied, OffsetNs: offsetNs, Stratum: 1, Queries: 3}
}

func TestStep(t *testing.T) {
	// monitor is ntppool/monitor's statusscore.go (2025) for the default
	// limit, written out independently of offsetRamp.
	monitor := func(s float64) float64 {
		if s <= 0.100 {
			return -6.667*s + 1.167
		}
		return -2.308*s + 0.731
	}
	for _, tc := range []struct {
		name     string
		limit    time.Duration
		r        Result
		step     float64
		maxScore float64
		reason   string // a substring; "" means no reason (+1)
	}{
		{"zero offset", 0, reply(0), 1, MaxScore, ""},
		{"at the limit", 0, reply(25 * msNs), 1, MaxScore, ""},
		{"at minus the limit", 0, reply(-25 * msNs), 1, MaxScore, ""},
		{"50 ms", 0, reply(50 * msNs), monitor(0.050), MaxScore, "offset +50.0 ms is 25.0 ms beyond the 25ms limit"},
		{"-50 ms", 0, reply(-50 * msNs), monitor(0.050), MaxScore, "offset -50.0 ms is 25.0 ms beyond"},
		{"100 ms", 0, reply(100 * msNs), 0.5, MaxScore, "beyond"},
		{"400 ms", 0, reply(400 * msNs), monitor(0.400), MaxScore, "beyond"},
		{"750 ms", 0, reply(750 * msNs), -1, MaxScore, "beyond"},
		{"1 s", 0, reply(1000 * msNs), -2, MaxScore, "beyond"},
		{"4 s", 0, reply(-4000 * msNs), -4, -20, "held at -20"},
		{"limit 50 ms, 40 ms", 50 * time.Millisecond, reply(40 * msNs), 1, MaxScore, ""},
		{"limit 50 ms, 75 ms", 50 * time.Millisecond, reply(75 * msNs), 0.75, MaxScore, "25.0 ms beyond the 50ms limit"},
		{"limit 200 ms, 300 ms", 200 * time.Millisecond, reply(300 * msNs), 0.5 - 1.5*100/650, MaxScore, "beyond the 200ms limit"},
		{"no reply", 0, Result{Kind: NoReply, Queries: 3}, -5, MaxScore, "no reply to 3 queries"},
		{"RATE", 0, Result{Kind: KissRate, Kiss: "RATE", Query: 2}, -3.5, MaxScore, "RATE on query 2"},
		{"DENY", 0, Result{Kind: KissDeny, Kiss: "DENY", Query: 1}, -10, -50, "DENY on query 1"},
		{"RSTR", 0, Result{Kind: KissDeny, Kiss: "RSTR", Query: 1}, -10, -50, "RSTR"},
		{"leap 3 stratum 0", 0, Result{Kind: Unsync, Leap: 3, Query: 1}, -4, MaxScore, "unsynchronised: leap indicator 3, stratum 0"},
		{"leap 3 stratum 2", 0, Result{Kind: Unsync, Leap: 3, Stratum: 2, Query: 1}, -4, MaxScore, "leap indicator 3 (alarm), stratum 2"},
		{"stratum 16", 0, Result{Kind: Unsync, Stratum: 16, Query: 1}, -4, MaxScore, "stratum 16"},
		{"unknown kiss", 0, Result{Kind: Unsync, Kiss: "INIT", Leap: 3, Query: 1}, -4, MaxScore, `kiss code "INIT"`},
		{"stratum 9", 0, Result{Kind: StratumHigh, Stratum: 9}, -4, MaxScore, "stratum 9"},
	} {
		sc := Scoring{OffsetLimitNs: int64(tc.limit)}
		step, maxScore, reason := sc.Step(tc.r)
		if math.Abs(step-tc.step) > 2e-3 || maxScore != tc.maxScore {
			t.Errorf("%s: Step(%+v) = %v, max %v; want %v, max %v", tc.name, tc.r, step, maxScore, tc.step, tc.maxScore)
		}
		if tc.reason == "" && reason != "" || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: Step(%+v) reason %q, want %q", tc.name, tc.r, reason, tc.reason)
		}
	}
}

// The score is the monitor's recurrence, checked against its closed forms.
func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		score, step, maxScore float64
		want                  float64
	}{
		{"first good check", 0, 1, MaxScore, 1},
		{"at the maximum", 20, 1, MaxScore, 20},
		{"no reply from 20", 20, -5, MaxScore, 14},
		{"RATE from 20", 20, -3.5, MaxScore, 15.5},
		{"unsynchronised from 10", 10, -4, MaxScore, 5.5},
		{"DENY from 20 is held at -50", 20, -10, -50, -50},
		{"DENY below -50 goes lower", -60, -10, -50, -67},
		{"never above 20", 20.5, 1, MaxScore, 20},
	} {
		if got := Next(tc.score, tc.step, tc.maxScore); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: Next(%v, %v, %v) = %v, want %v", tc.name, tc.score, tc.step, tc.maxScore, got, tc.want)
		}
	}
	// n good checks from 0 give 20·(1−0.95^n).
	s := 0.0
	for n := 1; n <= 100; n++ {
		s = Next(s, 1, MaxScore)
		if want := 20 * (1 - math.Pow(0.95, float64(n))); math.Abs(s-want) > 1e-9 {
			t.Fatalf("after %d good checks: score %v, want %v", n, s, want)
		}
	}
}

func TestProject(t *testing.T) {
	good := Scored{1, MaxScore}
	// From 0, all good: 20(1−0.95^n) > 10 first at n = 14 (0.95^14 =
	// 0.488, 0.95^13 = 0.513); it settles at 20.
	p := Project(0, []Scored{good})
	if p.CrossAt != 14 || !p.Up || !p.In || math.Abs(p.SettleLow-20) > 1e-9 || p.SettleHigh != p.SettleLow {
		t.Errorf("Project(0, all good) = cross %d up %v in %v settle %v..%v; want 14, up, in, 20", p.CrossAt, p.Up, p.In, p.SettleLow, p.SettleHigh)
	}
	// Already in and staying in: no crossing.
	if p := Project(15, []Scored{good}); p.CrossAt != -1 || !p.In {
		t.Errorf("Project(15, all good) = cross %d in %v; want -1, in", p.CrossAt, p.In)
	}
	// From 20, all no reply: 20·0.95^n − 100(1−0.95^n) ≤ 10 first at n = 2
	// (14, then 8.3); settles at −100.
	p = Project(20, []Scored{{-5, MaxScore}})
	if p.CrossAt != 2 || p.Up || p.In || math.Abs(p.SettleLow+100) > 1e-9 {
		t.Errorf("Project(20, no reply) = cross %d up %v in %v settle %v; want 2, down, out, -100", p.CrossAt, p.Up, p.In, p.SettleLow)
	}
	// A cycle of three good checks and a RATE: the settled score after
	// the RATE is the fixed point s = 0.95^4·s + Σ 0.95^(3−k)·step_k.
	cyc := []Scored{good, good, good, {-3.5, MaxScore}}
	sum := 0.0
	for k, c := range cyc {
		sum += math.Pow(0.95, float64(3-k)) * c.Step
	}
	low := sum / (1 - math.Pow(0.95, 4))
	high := 0.95*(0.95*(0.95*low+1)+1) + 1 // the third good check after it
	p = Project(0, cyc)
	if math.Abs(p.SettleLow-low) > 1e-9 || math.Abs(p.SettleHigh-high) > 1e-9 || p.In != (low > 10) {
		t.Errorf("Project(0, 3 good + RATE) settles %v..%v in %v; want %v..%v in %v", p.SettleLow, p.SettleHigh, p.In, low, high, low > 10)
	}
	// Nothing observed: nothing projected.
	if p := Project(3, nil); p.CrossAt != -1 || p.SettleLow != 3 || p.Curve != nil {
		t.Errorf("Project(3, nil) = %+v", p)
	}
}

func TestJudge(t *testing.T) {
	ok := func(offMs, delayMs int64) Query {
		return Query{Kind: Replied, OffsetNs: offMs * msNs, DelayNs: delayMs * msNs, Stratum: 1}
	}
	none := Query{Kind: NoReply}
	for _, tc := range []struct {
		name string
		qs   []Query
		want Result
	}{
		{"three replies: the lowest delay counts", []Query{ok(5, 30), ok(1, 2), ok(9, 40)},
			Result{Kind: Replied, OffsetNs: 1 * msNs, DelayNs: 2 * msNs, Stratum: 1, Queries: 3}},
		{"one reply of three counts", []Query{none, ok(3, 10), none},
			Result{Kind: Replied, OffsetNs: 3 * msNs, DelayNs: 10 * msNs, Stratum: 1, Queries: 3}},
		{"no reply", []Query{none, none, none}, Result{Kind: NoReply, Queries: 3}},
		{"a RATE after a reply ends it", []Query{ok(1, 1), {Kind: KissRate, Kiss: "RATE"}},
			Result{Kind: KissRate, Kiss: "RATE", Query: 2, Queries: 2}},
		{"DENY", []Query{{Kind: KissDeny, Kiss: "DENY", Leap: 3}},
			Result{Kind: KissDeny, Kiss: "DENY", Leap: 3, Query: 1, Queries: 1}},
		{"unsynchronised", []Query{none, {Kind: Unsync, Leap: 3}},
			Result{Kind: Unsync, Leap: 3, Query: 2, Queries: 2}},
		{"stratum 9", []Query{{Kind: StratumHigh, Stratum: 9, DelayNs: 5}, {Kind: StratumHigh, Stratum: 9, DelayNs: 3}, none},
			Result{Kind: StratumHigh, Stratum: 9, DelayNs: 3, Query: 2, Queries: 3}},
	} {
		if got := judge(tc.qs); got != tc.want {
			t.Errorf("%s: judge = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	const t1 = int64(1_800_000_000_000_000_000) // 2027-01-15
	rx := func(ns int64) ntpserve.Timestamp { return ntpserve.TimestampFromUnixNs(ns) }
	// The server is 10 ms ahead; 4 ms each way, 1 ms inside it.
	good := ntpserve.Header{Mode: 4, Version: 4, Stratum: 1, Receive: rx(t1 + 14*msNs), Transmit: rx(t1 + 15*msNs)}
	t4 := t1 + 9*msNs
	kod := func(code string) ntpserve.Header {
		h := ntpserve.Header{Mode: 4, Leap: 3}
		copy(h.RefID[:], code)
		return h
	}
	withLeap := good
	withLeap.Leap = 3
	s16 := good
	s16.Stratum = 16
	s9 := good
	s9.Stratum = 9
	for _, tc := range []struct {
		name string
		h    ntpserve.Header
		kind Kind
		kiss string
	}{
		{"good", good, Replied, ""},
		{"RATE", kod("RATE"), KissRate, "RATE"},
		{"DENY", kod("DENY"), KissDeny, "DENY"},
		{"RSTR", kod("RSTR"), KissDeny, "RSTR"},
		{"unknown kiss", kod("INIT"), Unsync, "INIT"},
		{"stratum 0 refid 0 (gpsntpd, chronyd unsynchronised)", kod("\x00\x00\x00\x00"), Unsync, ""},
		{"leap 3", withLeap, Unsync, ""},
		{"stratum 16", s16, Unsync, ""},
		{"stratum 9", s9, StratumHigh, ""},
	} {
		var q Query
		classify(&q, tc.h, t1, t4)
		if q.Kind != tc.kind || q.Kiss != tc.kiss {
			t.Errorf("%s: classify = %v %q, want %v %q", tc.name, q.Kind, q.Kiss, tc.kind, tc.kiss)
		}
	}
	var q Query
	classify(&q, good, t1, t4)
	if d := q.OffsetNs - 10*msNs; d < -1 || d > 1 || q.DelayNs < 8*msNs-1 || q.DelayNs > 8*msNs+1 {
		t.Errorf("classify(good): offset %d ns delay %d ns, want 10 ms and 8 ms", q.OffsetNs, q.DelayNs)
	}
}

// Kinds survive JSON (gpsntpctl poolcheck -json) both ways.
func TestKindText(t *testing.T) {
	for k := Replied; k <= StratumHigh; k++ {
		b, _ := k.MarshalText()
		var got Kind
		if err := got.UnmarshalText(b); err != nil || got != k {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, got, err, k)
		}
	}
	var k Kind
	if err := k.UnmarshalText([]byte("bogus")); err == nil {
		t.Error(`UnmarshalText("bogus") = nil error`)
	}
}
