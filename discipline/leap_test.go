package discipline

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/pps"
)

func TestParseLeapFileDebian(t *testing.T) {
	lt, err := LoadLeapFile("testdata/leap-seconds.list")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(lt.Events); n != 27 {
		t.Errorf("events = %d, want 27 (1972-07 to 2017-01)", n)
	}
	last := lt.Events[len(lt.Events)-1]
	if got := time.Unix(0, last.AtNs).UTC(); !got.Equal(time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)) || !last.Insert {
		t.Errorf("last event = %v insert=%v, want 2017-01-01 insert", got, last.Insert)
	}
	if lt.Expires.Year() < 2025 {
		t.Errorf("Expires = %v, want a date from the #@ line", lt.Expires)
	}
}

func TestParseLeapFileErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"", "no leap second entries"},
		{"3692217600 37 # ok\nbogus\n", "x:2: want `NTP-seconds TAI-UTC`"},
		{"#@ soon\n", "x:1: want `#@ NTP-seconds`"},
		{"3692217600 37\n3644697600 36\n", "x:2: entries out of order"},
	} {
		_, err := ParseLeapFile("x", strings.NewReader(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseLeapFile(%q) error = %v, want %q", c.src, err, c.want)
		}
	}
}

// A future table: an insertion at the end of 2026-12-31 and a deletion at
// the end of 2027-06-30 (none has ever happened; the code must handle it).
func futureLeaps(t *testing.T) *LeapTable {
	t.Helper()
	ntp := func(y int, m time.Month) int64 {
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Unix() + ntpEpochOffsetS
	}
	src := ""
	src += itoa(ntp(2017, 1)) + " 37\n" + itoa(ntp(2027, 1)) + " 38\n" + itoa(ntp(2027, 7)) + " 37\n"
	lt, err := ParseLeapFile("future", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	return lt
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestLeapAnnounce(t *testing.T) {
	lt := futureLeaps(t)
	for _, c := range []struct {
		at   time.Time
		want Leap
	}{
		{time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC), LeapNone},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), LeapInsert},
		{time.Date(2026, 12, 31, 23, 59, 59, 999e6, time.UTC), LeapInsert},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), LeapNone},
		{time.Date(2027, 6, 15, 0, 0, 0, 0, time.UTC), LeapDelete},
		{time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC), LeapNone},
	} {
		if got, _ := lt.Announce(c.at.UnixNano()); got != c.want {
			t.Errorf("Announce(%v) = %d, want %d", c.at, got, c.want)
		}
	}
}

func TestSoftLeapInsertAndDelete(t *testing.T) {
	midnight := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	now := midnight - 10e9
	s := NewSoft(func() int64 { return now })
	s.ScheduleLeap(LeapEvent{AtNs: midnight, Insert: true})
	for _, c := range []struct{ real, want int64 }{
		{midnight - 1e9, midnight - 1e9},       // 23:59:59
		{midnight - 1, midnight - 1},           // 23:59:59.999999999
		{midnight, midnight - 1e9},             // 23:59:60 is served as 23:59:59 again
		{midnight + 999_999_999, midnight - 1}, //
		{midnight + 1e9, midnight},             // 00:00:00
	} {
		if got := s.Map(c.real); got != c.want {
			t.Errorf("insert: Map(midnight%+d ns) = midnight%+d, want midnight%+d", c.real-midnight, got-midnight, c.want-midnight)
		}
	}
	// A writer after the leap folds it in: served time stays continuous.
	now = midnight + 5e9
	before := s.Now()
	s.SetFrequency(100)
	if after := s.Now(); after != before {
		t.Errorf("SetFrequency after the leap moved served time %d → %d", before, after)
	}

	now = midnight - 10e9
	d := NewSoft(func() int64 { return now })
	d.ScheduleLeap(LeapEvent{AtNs: midnight, Insert: false})
	if got := d.Map(midnight - 1e9 - 1); got != midnight-1e9-1 {
		t.Errorf("delete: 23:59:58.999… served as midnight%+d", got-midnight)
	}
	if got := d.Map(midnight - 1e9); got != midnight {
		t.Errorf("delete: 23:59:59 served as midnight%+d, want 00:00:00", got-midnight)
	}
}

// The whole discipline across an inserted leap second: the receiver names
// 23:59:60 (LeapSecond), POSIX labels lose a second after it, the Soft
// clock repeats 23:59:59, and the servo sees nothing: no step, no
// mislabel, error stays at the noise.
//
// The announcement comes from the leap table, or, without a current one,
// from the receiver (UBX-NAV-TIMELS in every fix): the same leap follows.
func TestEngineAcrossLeapSecond(t *testing.T) {
	midnight := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	notice := gps.LeapNotice{Known: true, Change: +1, At: midnight, GPSMinusUTCS: 18}
	expired := futureLeaps(t)
	expired.Events = nil // it knew nothing of 2027
	expired.Expires = midnight.AddDate(0, -6, 0)
	for _, c := range []struct {
		name   string
		leaps  *LeapTable
		notice gps.LeapNotice
	}{
		{"leap table", futureLeaps(t), gps.LeapNotice{}},
		{"receiver, no table", nil, notice},
		{"receiver, table expired", expired, notice},
	} {
		t.Run(c.name, func(t *testing.T) { acrossLeapSecond(t, midnight.UnixNano(), c.leaps, c.notice) })
	}
}

func acrossLeapSecond(t *testing.T, midnight int64, leaps *LeapTable, notice gps.LeapNotice) {
	w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6, Leaps: leaps}, 0, 3)
	// Start 10 minutes before midnight in simulated GPS time.
	w.tl.OffsetNs = midnight - 600e9 - w.nowNs
	w.second = w.tl.GPSAt(w.nowNs)/1e9 + 1
	sawInsert := false
	stepsAtSync := int64(-1)
	for k := 0; k < 1200; k++ {
		phys := w.second * 1e9 // continuous (physical) second
		label, leap := phys, false
		switch {
		case phys == midnight:
			label, leap = midnight-1e9, true // 23:59:60
		case phys > midnight:
			label = phys - 1e9
		}
		edge := w.tl.HostAt(phys)
		w.nowNs = edge + int64(w.rng.NormFloat64()*1000)
		w.eng.Edge(pps.Edge{AssertNs: w.nowNs, Seq: uint32(w.second)})
		w.nowNs = edge + 120e6
		w.eng.Fix(gps.Fix{Time: time.Unix(0, label).UTC(), TimeValid: true, LeapSecond: leap, Mode: gps.Mode3D, ArrivalNs: w.nowNs, Leap: notice})
		w.nowNs = edge + 500e6
		w.eng.Tick(w.nowNs)
		r := w.eng.Ref().Load()
		if r.Synchronised && stepsAtSync < 0 {
			stepsAtSync = int64(w.eng.Status().Counters.Steps)
		}
		if r.Leap == LeapInsert {
			sawInsert = true
		}
		if phys > midnight+5e9 && r.Leap != LeapNone {
			t.Fatalf("LI = %d after the leap, want 0", r.Leap)
		}
		// Served minus true POSIX time at edge+500 ms.
		truth := w.tl.GPSAt(w.nowNs)
		if truth >= midnight+1e9 {
			truth -= 1e9
		} else if truth >= midnight {
			truth = midnight - 1e9 + (truth - midnight) // the repeated second
		}
		if r.Synchronised && math.Abs(float64(w.soft.Map(w.nowNs)-truth)) > 50e3 {
			t.Fatalf("second %d (%v): served − POSIX truth = %d ns", k, time.Unix(0, label).UTC(), w.soft.Map(w.nowNs)-truth)
		}
		w.second++
	}
	st := w.eng.Status()
	if !sawInsert {
		t.Error("LI insert never announced in December")
	}
	if st.Counters.Mislabel != 0 || int64(st.Counters.Steps) != stepsAtSync {
		t.Errorf("counters %+v (steps at sync %d): want no mislabel and no step after sync", st.Counters, stepsAtSync)
	}
}

// TestEngineLeapSources: which announcement wins, and when.
func TestEngineLeapSources(t *testing.T) {
	jan := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	dec, nov := jan.Add(-10*24*time.Hour).UnixNano(), jan.Add(-40*24*time.Hour).UnixNano()
	insert := gps.LeapNotice{Known: true, Change: +1, At: jan}
	quiet := futureLeaps(t)
	quiet.Events = nil // lists no 2027 leap
	quiet.Expires = jan.AddDate(0, 6, 0)
	stale := *quiet
	stale.Expires = jan.AddDate(0, -6, 0)
	for _, c := range []struct {
		name   string
		leaps  *LeapTable
		notice gps.LeapNotice
		nowNs  int64
		want   Leap
	}{
		{"receiver insert, in the month", nil, insert, dec, LeapInsert},
		{"receiver insert, the month before", nil, insert, nov, LeapNone},
		{"receiver delete", nil, gps.LeapNotice{Known: true, Change: -1, At: jan}, dec, LeapDelete},
		{"receiver: none scheduled", nil, gps.LeapNotice{Known: true, At: jan}, dec, LeapNone},
		{"receiver: not the end of a month", nil, gps.LeapNotice{Known: true, Change: +1, At: jan.Add(-24 * time.Hour)}, dec, LeapNone},
		{"receiver: after the event", nil, insert, jan.UnixNano() + 1e9, LeapNone},
		{"current table lists none: the table wins", quiet, insert, dec, LeapNone},
		{"expired table: the receiver counts", &stale, insert, dec, LeapInsert},
		{"table lists it, receiver silent", futureLeaps(t), gps.LeapNotice{}, dec, LeapInsert},
	} {
		e := NewEngine(Config{Clock: NewSoft(func() int64 { return c.nowNs }), Leaps: c.leaps})
		e.rxLeap = c.notice
		if li, _ := e.leapAnnounce(c.nowNs); li != c.want {
			t.Errorf("%s: LI %d, want %d", c.name, li, c.want)
		}
	}
}

func TestLeapString(t *testing.T) {
	for l, want := range map[Leap]string{LeapNone: "none", LeapInsert: "insert", LeapDelete: "delete", LeapAlarm: "alarm", 4: "Leap(4)"} {
		if got := l.String(); got != want {
			t.Errorf("Leap(%d).String() = %q, want %q", uint8(l), got, want)
		}
	}
}
