package discipline

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/pps"
)

// stepLabelled simulates one GPS second whose NMEA names the true second
// plus shiftS seconds (a receiver whose time jumped).
func (w *world) stepLabelled(shiftS int64, withEdge bool) {
	w.stepDelayed(shiftS, withEdge, 120e6)
}

// stepDelayed is stepLabelled with the NMEA burst delayNs after the edge.
func (w *world) stepDelayed(shiftS int64, withEdge bool, delayNs int64) {
	edge := w.tl.HostAt(w.second * 1e9)
	if withEdge {
		w.nowNs = edge + int64(w.rng.NormFloat64()*1000)
		w.eng.Edge(pps.Edge{AssertNs: w.nowNs, Seq: uint32(w.second)})
	}
	delay := delayNs
	if !withEdge {
		delay += int64(w.rng.NormFloat64() * 2e6) // NMEA bursts jitter by ms
	}
	w.nowNs = edge + delay
	w.eng.Fix(gps.Fix{Time: time.Unix(w.second+shiftS, 0).UTC(), TimeValid: true, Mode: gps.Mode3D, ArrivalNs: w.nowNs})
	w.nowNs = edge + 500e6
	w.eng.Tick(w.nowNs)
	w.drain()
	w.second++
}

// jumpTo2046 is the shift (s) that makes the receiver name 2046-01-01
// at second now.
func jumpTo2046(now int64) int64 {
	return time.Date(2046, 1, 1, 0, 0, 0, 0, time.UTC).Unix() - now
}

// A receiver whose time jumps after lock (a firmware bug, a week-number
// rollover, a spoofer) must not be followed at once: the engine serves
// its own clock (holdover) or says it is unsynchronised, raises an alarm,
// and follows only a jump within the panic limit that persists for the
// step-out interval (ntpd's stepout 300 s and panic 1000 s). A jump that
// comes back is ridden out.
func TestReceiverTimeJump(t *testing.T) {
	const lockS = 120
	for _, withPPS := range []bool{true, false} {
		for _, c := range []struct {
			name string
			// shiftS: the jump (s), or 0 for 2046; jumpS: how long it lasts
			// before the receiver comes back (then 120 s more are run).
			shiftS   int64
			jumpS    int
			followed bool
		}{
			{"+1 h never followed", 3600, 1200, false},
			{"to 2046 never followed", 0, 1200, false},
			{"-30 s followed after step-out", -30, 420, true},
			{"+30 s followed after step-out", 30, 420, true},
			{"-30 s for 20 s ridden out", -30, 20, false},
			{"+1 h for 20 s ridden out", 3600, 20, false},
		} {
			name := c.name + map[bool]string{true: ", PPS", false: ", NMEA only"}[withPPS]
			t.Run(name, func(t *testing.T) {
				w := newWorld(t, Config{PPS: withPPS, NMEADelayNs: 120e6}, 2_500_000_000, 20)
				for k := 0; k < lockS; k++ {
					w.stepLabelled(0, withPPS)
				}
				want := map[bool]State{true: PPS, false: GPS}[withPPS]
				if s := w.eng.Ref().Load().State; s != want {
					t.Fatalf("state after %d s = %v, want %v", lockS, s, want)
				}
				stepsAtLock := w.eng.Status().Counters.Steps
				shift := c.shiftS
				if shift == 0 {
					shift = jumpTo2046(w.second)
				}
				// Served time may be trusted only within this of the
				// time it should be (NMEA-only is good to milliseconds).
				tol := map[bool]float64{true: 1e6, false: 50e6}[withPPS]
				followedAt := -1
				for k := 0; k < c.jumpS; k++ {
					w.stepLabelled(shift, withPPS)
					r := w.eng.Ref().Load()
					if followedAt < 0 && w.eng.Status().Counters.Steps > stepsAtLock {
						followedAt = k
						if !c.followed {
							t.Fatalf("second %d of the jump: the clock was stepped", k)
						}
						if k < 295 {
							t.Fatalf("jump followed after %d s, want ≥ the 300 s step-out", k)
						}
					}
					if followedAt < 0 && r.Synchronised && math.Abs(w.errNs()) > tol {
						t.Fatalf("second %d of the jump: synchronised (%v) serving %.3f s off", k, r.State, w.errNs()/1e9)
					}
					if followedAt >= 0 && r.Synchronised && math.Abs(w.errNs()-float64(shift)*1e9) > tol {
						t.Fatalf("second %d of the jump, after the step: synchronised (%v) %.3f s off the receiver", k, r.State, (w.errNs()-float64(shift)*1e9)/1e9)
					}
				}
				st := w.eng.Status()
				if !c.followed || followedAt < 0 {
					// Still not followed: said so, in words.
					if len(st.Alarms) != 1 || !strings.Contains(st.Alarms[0], "not followed") {
						t.Fatalf("Alarms during the jump = %q, want one saying it is not followed", st.Alarms)
					}
					beyond := math.Abs(float64(shift)) > 1000
					if got := strings.Contains(st.Alarms[0], "beyond the 1000 s panic limit: check the receiver, restart gpsntpd to accept it"); got != beyond {
						t.Errorf("alarm %q: says beyond panic = %v, want %v", st.Alarms[0], got, beyond)
					}
					if st.Counters.Distrusted == 0 {
						t.Error("Counters.Distrusted = 0 during a jump")
					}
				}
				if !hasReason(w.events, EventState, "receiver time jumped "+fmt.Sprintf("%+d s", shift)) && shift < 86400 {
					t.Errorf("no state event saying the receiver time jumped %+d s; events %v", shift, w.events)
				}
				if c.followed {
					if followedAt < 0 {
						t.Fatalf("a %+d s jump lasting %d s was never followed", shift, c.jumpS)
					}
					steps := w.eventsOf(EventStep)
					last := steps[len(steps)-1]
					if d := float64(last.StepNs - shift*1e9); math.Abs(d) > tol || !strings.Contains(last.Reason, "followed") {
						t.Errorf("last step event %q, want a step of %+d s saying it was followed", last, shift)
					}
					if len(w.eng.Status().Alarms) != 0 {
						t.Errorf("Alarms after following = %q, want none", w.eng.Status().Alarms)
					}
					r := w.eng.Ref().Load()
					if r.State != want || math.Abs(w.errNs()-float64(shift)*1e9) > tol {
						t.Fatalf("after following: state %v, %.3f s off the receiver; want %v on its time", r.State, (w.errNs()-float64(shift)*1e9)/1e9, want)
					}
					return
				}
				// The receiver comes back: service resumes, no step.
				for k := 0; k < 120; k++ {
					w.stepLabelled(0, withPPS)
					if r := w.eng.Ref().Load(); r.Synchronised && math.Abs(w.errNs()) > tol {
						t.Fatalf("second %d after the receiver came back: %v serving %.3f s off", k, r.State, w.errNs()/1e9)
					}
				}
				st = w.eng.Status()
				if st.Ref.State != want {
					t.Errorf("state after the receiver came back = %v, want %v", st.Ref.State, want)
				}
				if st.Counters.Steps != stepsAtLock {
					t.Errorf("steps = %d, want %d (none after lock)", st.Counters.Steps, stepsAtLock)
				}
				if len(st.Alarms) != 0 {
					t.Errorf("Alarms after the receiver came back = %q, want none", st.Alarms)
				}
				if !hasReason(w.events, EventAlarm, "agrees with the clock again") {
					t.Error("no event saying the receiver agrees with the clock again")
				}
			})
		}
	}
}

// hasReason reports whether an event of kind k has a reason containing s.
func hasReason(evs []Event, k EventKind, s string) bool {
	for _, ev := range evs {
		if ev.Kind == k && strings.Contains(ev.Reason, s) {
			return true
		}
	}
	return false
}

// A Pi without an RTC boots in 1970: the first trusted time steps the
// clock by decades, at once, and the step is reported with its reason.
func TestBootStepFrom1970(t *testing.T) {
	for _, withPPS := range []bool{true, false} {
		t.Run(map[bool]string{true: "PPS", false: "NMEA only"}[withPPS], func(t *testing.T) {
			const bootNs = 12_345_678_901 // 12 s after the epoch
			gpsNs := time.Date(2026, 9, 21, 14, 13, 20, 0, time.UTC).UnixNano()
			w := newWorldAt(t, Config{PPS: withPPS, NMEADelayNs: 120e6}, bootNs, gpsNs-bootNs, 20)
			for k := 0; k < 60; k++ {
				w.stepLabelled(0, withPPS)
			}
			steps := w.eventsOf(EventStep)
			if len(steps) == 0 {
				t.Fatal("no step event")
			}
			first := steps[0]
			if time.Unix(0, first.BeforeNs).Year() != 1970 || time.Unix(0, first.AfterNs).Year() != 2026 {
				t.Errorf("first step %q: want from 1970 to 2026", first)
			}
			wantWhy := map[bool]string{true: "first PPS-labelled time", false: "first trusted NMEA time"}[withPPS]
			if !strings.Contains(first.Reason, wantWhy) || first.StepNs < 50*365*86400e9 {
				t.Errorf("first step %q, want a step forward of decades: %s", first, wantWhy)
			}
			if r := w.eng.Ref().Load(); !r.Synchronised || math.Abs(w.errNs()) > 50e6 {
				t.Errorf("after boot: synchronised %v, error %.3f s", r.Synchronised, w.errNs()/1e9)
			}
		})
	}
}

// The events queue keeps the newest 64 and counts what it dropped.
func TestEventsBounded(t *testing.T) {
	e := NewEngine(Config{Clock: NewSoft(func() int64 { return 0 })})
	for i := 0; i < maxEvents+6; i++ {
		e.event(Event{AtNs: int64(i), Kind: EventAlarm, Reason: "x"})
	}
	evs := e.Events()
	if len(evs) != maxEvents || evs[0].AtNs != 6 || evs[len(evs)-1].AtNs != maxEvents+5 {
		t.Fatalf("Events() = %d events from %d to %d, want %d from 6 to %d", len(evs), evs[0].AtNs, evs[len(evs)-1].AtNs, maxEvents, maxEvents+5)
	}
	if d := e.cnt.EventsDropped; d != 6 {
		t.Errorf("EventsDropped = %d, want 6", d)
	}
	if evs := e.Events(); evs != nil {
		t.Errorf("second Events() = %v, want nil", evs)
	}
}

// Config.StepOutNs and Config.PanicNs are honoured, and a receiver time
// that keeps changing (a spoofer walking it, a receiver coasting on a bad
// oscillator) never persists, so it is never followed.
func TestReceiverTimeJumpConfig(t *testing.T) {
	for _, c := range []struct {
		name      string
		cfg       Config
		shiftS    func(k int) int64 // the receiver's shift k s into the jump
		seconds   int
		followMin int // followed no earlier than this (-1: never)
		followMax int
	}{
		{"step-out 60 s: -30 s followed after 60 s", Config{StepOutNs: 60e9},
			func(int) int64 { return -30 }, 200, 59, 70},
		{"no panic limit: +1 h followed after 300 s", Config{PanicNs: -1},
			func(int) int64 { return 3600 }, 400, 299, 310},
		{"panic 10 s: +30 s never followed", Config{PanicNs: 10e9},
			func(int) int64 { return 30 }, 400, -1, -1},
		{"walking receiver time never followed", Config{},
			func(k int) int64 { return 5 + int64(k/20) }, 900, -1, -1},
	} {
		for _, withPPS := range []bool{true, false} {
			t.Run(c.name+map[bool]string{true: ", PPS", false: ", NMEA only"}[withPPS], func(t *testing.T) {
				cfg := c.cfg
				cfg.PPS, cfg.NMEADelayNs = withPPS, 120e6
				w := newWorld(t, cfg, 0, 20)
				for k := 0; k < 120; k++ {
					w.stepLabelled(0, withPPS)
				}
				steps := w.eng.Status().Counters.Steps
				followed := -1
				for k := 0; k < c.seconds && followed < 0; k++ {
					w.stepLabelled(c.shiftS(k), withPPS)
					if w.eng.Status().Counters.Steps > steps {
						followed = k
					}
				}
				if c.followMin < 0 {
					if followed >= 0 {
						t.Fatalf("followed after %d s, want never", followed)
					}
					return
				}
				if followed < c.followMin || followed > c.followMax {
					t.Fatalf("followed after %d s, want %d..%d", followed, c.followMin, c.followMax)
				}
			})
		}
	}
}

// With PPS configured, the receiver's burst delay is measured from the
// paired edges, so when PPS goes silent NMEA time carries on from the PPS
// time, even with nmeadelay configured 300 ms wrong: no jump, no alarm.
// And with PPS silent from the start the (wrong) NMEA time is served, then
// corrected by a step when PPS arrives (NMEA named the right second).
func TestNMEADelayFromPPS(t *testing.T) {
	t.Run("PPS then silent", func(t *testing.T) {
		w := newWorld(t, Config{PPS: true, NMEADelayNs: 420e6, MaxErrorNs: 20e3}, 0, 20)
		for k := 0; k < 120; k++ {
			w.stepDelayed(0, true, 120e6)
		}
		if s := w.eng.Ref().Load().State; s != PPS {
			t.Fatalf("state = %v, want pps", s)
		}
		steps := w.eng.Status().Counters.Steps
		for k := 0; k < 3000; k++ {
			w.stepDelayed(0, false, 120e6)
			if r := w.eng.Ref().Load(); r.Synchronised && math.Abs(w.errNs()) > 20e6 {
				t.Fatalf("second %d without PPS: %v serving %.3f ms off", k, r.State, w.errNs()/1e6)
			}
		}
		st := w.eng.Status()
		if st.Ref.State != GPS || st.Counters.Steps != steps || st.Counters.Distrusted != 0 {
			t.Errorf("without PPS: state %v, %d steps, %d distrusted; want gps, none, none", st.Ref.State, st.Counters.Steps-steps, st.Counters.Distrusted)
		}
	})
	t.Run("silent then PPS", func(t *testing.T) {
		w := newWorld(t, Config{PPS: true, NMEADelayNs: 420e6}, 0, 20)
		for k := 0; k < 60; k++ {
			w.stepDelayed(0, false, 120e6)
		}
		if r := w.eng.Ref().Load(); r.State != GPS || math.Abs(w.errNs()-300e6) > 20e6 {
			t.Fatalf("NMEA time with nmeadelay 300 ms too long: %v, %.3f ms off, want gps, 300 ms ahead", r.State, w.errNs()/1e6)
		}
		for k := 0; k < 60; k++ {
			w.stepDelayed(0, true, 120e6)
		}
		if r := w.eng.Ref().Load(); r.State != PPS || math.Abs(w.errNs()) > 10e3 {
			t.Fatalf("after PPS came: %v, %.0f ns off, want pps within 10 µs", r.State, w.errNs())
		}
		steps := w.eventsOf(EventStep)
		if last := steps[len(steps)-1]; math.Abs(float64(last.StepNs)+300e6) > 20e6 || !strings.Contains(last.Reason, "PPS-labelled time") {
			t.Errorf("last step %q, want -300 ms to the PPS-labelled time", last)
		}
	})
}
