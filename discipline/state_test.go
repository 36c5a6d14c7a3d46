package discipline

import (
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/pps"
)

// states runs the world for n seconds with the given inputs and returns
// the states seen, in order, without repeats.
func (w *world) run(n int, withEdge, withFix bool, seen *[]State) {
	for k := 0; k < n; k++ {
		w.step(1000, 120e6, withEdge, withFix)
		s := w.eng.Ref().Load().State
		if len(*seen) == 0 || (*seen)[len(*seen)-1] != s {
			*seen = append(*seen, s)
		}
	}
}

func statesEqual(a, b []State) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestStateTransitions(t *testing.T) {
	U, G, P, H := Unsynchronised, GPS, PPS, Holdover
	type phase struct {
		seconds           int
		withEdge, withFix bool
	}
	for _, c := range []struct {
		name   string
		cfg    Config
		phases []phase
		want   []State
	}{
		{"PPS lock, short PPS loss, back", Config{PPS: true, NMEADelayNs: 120e6},
			[]phase{{60, true, true}, {30, false, true}, {30, true, true}}, []State{U, P, H, P}},
		{"GPS and PPS lost: holdover, then unsynchronised at maxerror", Config{PPS: true, NMEADelayNs: 120e6, MaxErrorNs: 20e3},
			[]phase{{120, true, true}, {3000, false, false}}, []State{U, P, H, U}},
		{"holdover time limit, then NMEA time", Config{PPS: true, NMEADelayNs: 120e6, HoldoverMaxNs: 60e9},
			[]phase{{120, true, true}, {100, false, true}}, []State{U, P, H, U, G}},
		{"holdover time limit, no NMEA either", Config{PPS: true, NMEADelayNs: 120e6, HoldoverMaxNs: 60e9},
			[]phase{{120, true, true}, {100, false, false}}, []State{U, P, H, U}},
		{"PPS configured but silent: NMEA time", Config{PPS: true, NMEADelayNs: 120e6},
			[]phase{{120, false, true}}, []State{U, G}},
		{"NMEA only: GPS, lost, holdover, back", Config{PPS: false, NMEADelayNs: 120e6},
			[]phase{{60, false, true}, {30, false, false}, {30, false, true}}, []State{U, G, H, G}},
		{"PPS without NMEA never synchronises", Config{PPS: true, NMEADelayNs: 120e6},
			[]phase{{120, true, false}}, []State{U}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, c.cfg, 3_000_000, 7)
			var seen []State
			for _, p := range c.phases {
				w.run(p.seconds, p.withEdge, p.withFix, &seen)
			}
			if !statesEqual(seen, c.want) {
				t.Errorf("states = %v, want %v", seen, c.want)
			}
		})
	}
}

// The receiver suddenly names the wrong second (a firmware bug, a spoofer):
// the engine must notice, never serve a second off while claiming
// synchronisation, keep serving its own clock (holdover), say why in an
// alarm, and not step (a jump is followed only after the step-out
// interval: TestReceiverTimeJump).
func TestReceiverJumpsASecond(t *testing.T) {
	w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6}, 0, 3)
	for k := 0; k < 60; k++ {
		w.step(1000, 120e6, true, true)
	}
	if s := w.eng.Ref().Load().State; s != PPS {
		t.Fatalf("state = %v, want pps", s)
	}
	steps := w.eng.Status().Counters.Steps
	for k := 0; k < 10; k++ {
		edge := w.tl.HostAt(w.second * 1e9)
		w.nowNs = edge
		w.eng.Edge(pps.Edge{AssertNs: edge})
		w.nowNs = edge + 120e6
		// Labels one second late.
		w.eng.Fix(gps.Fix{Time: time.Unix(w.second-1, 0).UTC(), TimeValid: true, Mode: gps.Mode3D, ArrivalNs: w.nowNs})
		w.eng.Tick(edge + 500e6)
		w.drain()
		r := w.eng.Ref().Load()
		if r.Synchronised && w.errNs() > 0.5e9 {
			t.Fatalf("served a second off while claiming synchronisation")
		}
		w.second++
	}
	st := w.eng.Status()
	if st.Ref.State != Holdover {
		t.Errorf("state on steadily wrong labels = %v, want holdover on our own clock", st.Ref.State)
	}
	if st.Counters.Mislabel < 3 {
		t.Errorf("Mislabel = %d, want ≥ 3", st.Counters.Mislabel)
	}
	if st.Counters.Steps != steps {
		t.Errorf("Steps = %d, want %d: a one-second jump is not followed at once", st.Counters.Steps, steps)
	}
	if len(st.Alarms) != 1 || !strings.Contains(st.Alarms[0], "receiver time is 1 s behind the clock") {
		t.Errorf("Alarms = %q, want one saying the receiver is 1 s behind", st.Alarms)
	}
}

// Two edges per second (the wrong polarity of a 100 ms pulse, or ringing):
// no edge can be labelled with certainty, so none is.
func TestDoubleEdgesRefused(t *testing.T) {
	w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6}, 0, 3)
	for k := 0; k < 60; k++ {
		edge := w.tl.HostAt(w.second * 1e9)
		w.nowNs = edge
		w.eng.Edge(pps.Edge{AssertNs: edge})
		w.nowNs = edge + 100e6
		w.eng.Edge(pps.Edge{AssertNs: edge + 100e6})
		w.nowNs = edge + 150e6
		w.eng.Fix(gps.Fix{Time: time.Unix(w.second, 0).UTC(), TimeValid: true, Mode: gps.Mode3D, ArrivalNs: w.nowNs})
		w.eng.Tick(edge + 500e6)
		w.second++
	}
	st := w.eng.Status()
	if st.Ref.Synchronised || st.Counters.Paired != 0 {
		t.Errorf("with two edges a second: synchronised=%v paired=%d, want neither", st.Ref.Synchronised, st.Counters.Paired)
	}
}
