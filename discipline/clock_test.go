package discipline

import (
	"testing"
	"time"
)

// recordingClock is a Soft clock that records what the engine tells it
// beyond steering (Clock.ScheduleLeap, Clock.ReportSync).
type recordingClock struct {
	*Soft
	leaps   []LeapEvent
	reports []syncReport
}

type syncReport struct {
	synced            bool
	maxErrorNs, estNs int64
}

func (c *recordingClock) ScheduleLeap(e LeapEvent) {
	c.leaps = append(c.leaps, e)
	c.Soft.ScheduleLeap(e)
}

func (c *recordingClock) ReportSync(synced bool, maxErrorNs, estErrorNs int64) {
	c.reports = append(c.reports, syncReport{synced: synced, maxErrorNs: maxErrorNs, estNs: estErrorNs})
}

// The engine tells the clock, through the Clock interface, on every
// update: whether it is synchronised and its error bound as published, and
// the leap second it announces (and only while it announces one).
func TestEngineTellsClock(t *testing.T) {
	midnight := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	w := newWorld(t, Config{}, 0, 3)
	rc := &recordingClock{Soft: w.soft}
	w.eng = NewEngine(Config{Clock: rc, PPS: true, NMEADelayNs: 120e6, Leaps: futureLeaps(t)})
	if len(rc.reports) != 1 || rc.reports[0].synced || rc.reports[0].maxErrorNs != 16e9 {
		t.Fatalf("NewEngine told the clock %+v, want one report: unsynchronised, maxerror 16 s", rc.reports)
	}
	// Start an hour before the leap in simulated GPS time.
	w.tl.OffsetNs = midnight - 3600e9 - w.nowNs
	w.second = w.tl.GPSAt(w.nowNs)/1e9 + 1
	synced := false
	for k := 0; k < 600; k++ {
		n := len(rc.reports)
		w.step(1000, 120e6, true, true)
		if len(rc.reports) < n+2 {
			t.Fatalf("second %d: %d reports for a fix and a tick, want at least 2", k, len(rc.reports)-n)
		}
		r := w.eng.Ref().Load()
		got := rc.reports[len(rc.reports)-1]
		want := int64(16e9)
		if r.Synchronised {
			synced = true
			want = r.RootDispersionAt(rc.Map(w.nowNs))
		}
		if got.synced != r.Synchronised || got.maxErrorNs != want {
			t.Fatalf("second %d: last report synced %v maxerror %d ns, want %v and %d ns as published", k, got.synced, got.maxErrorNs, r.Synchronised, want)
		}
		if !r.Synchronised && len(rc.leaps) > 0 {
			t.Fatalf("second %d: leap scheduled while unsynchronised", k)
		}
		if r.Leap == LeapInsert && (len(rc.leaps) == 0 || rc.leaps[len(rc.leaps)-1] != (LeapEvent{AtNs: midnight, Insert: true})) {
			t.Fatalf("second %d: LI insert published, but the clock was told %+v", k, rc.leaps)
		}
	}
	if !synced || len(rc.leaps) == 0 {
		t.Errorf("never synchronised (%v) or never told of the leap (%d times)", synced, len(rc.leaps))
	}
}

// Every backend says what it can do; the Soft clock has no kernel to tell
// and never fails.
func TestSoftHasNothingToReport(t *testing.T) {
	s := NewSoft(func() int64 { return 1e18 })
	s.ReportSync(true, 1e3, 1e3)
	if n, err := s.Failures(); n != 0 || err != nil {
		t.Errorf("Soft.Failures() = %d, %v; want 0, nil", n, err)
	}
	var _ Clock = s
}
