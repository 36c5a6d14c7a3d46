package discipline

import (
	"math"
	"strings"
	"testing"
)

// upstream passes the engine an estimate from upstream servers that serve
// the simulated truth (GPS time), as the daemon does after a poll.
func (w *world) upstream(ok bool) { w.upstreamOff(ok, 0) }

// upstreamOff is upstream with servers whose time is offNs ahead of the
// truth.
func (w *world) upstreamOff(ok bool, offNs float64) {
	served := w.soft.Map(w.nowNs)
	w.eng.SetUpstream(UpstreamEstimate{OK: ok, OffsetNs: float64(served-w.tl.GPSAt(w.nowNs)) - offNs, ErrorNs: 1e6, AtNs: w.nowNs,
		Stratum: 2, RefID: [4]byte{192, 0, 2, 1}, RootDelayNs: 2e6, RootDispersionNs: 1e6, Truechimers: 3, Sources: "192.0.2.1, 192.0.2.2, 192.0.2.3"})
	w.drain()
}

// A receiver labelling every second 1 s late is vetoed by the upstreams
// from the start: never served, the upstreams' time served at stratum 2;
// once it labels right again it is trusted after the hold-off.
func TestUpstreamVetoAndHoldoff(t *testing.T) {
	w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6, Upstreams: true, Fallback: true}, 0, 3)
	var seen []State
	wrong := true
	note := func() {
		if s := w.eng.Ref().Load().State; len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
		if r := w.eng.Ref().Load(); wrong && r.Synchronised && r.State != Upstream {
			t.Fatalf("second %d: state %v synchronised while the receiver is 1 s off", w.second, r.State)
		}
	}
	for k := 0; k < 120; k++ {
		if k%16 == 2 {
			w.upstream(true)
		}
		w.stepLabelled(-1, true)
		note()
	}
	st := w.eng.Status()
	if st.Ref.State != Upstream || st.Ref.Stratum != 2 || st.Ref.RefID != [4]byte{192, 0, 2, 1} {
		t.Fatalf("after 120 s of a wrong receiver: state %v stratum %d refid %v, want upstream, 2, 192.0.2.1", st.Ref.State, st.Ref.Stratum, st.Ref.RefID)
	}
	if len(st.Alarms) == 0 || !strings.Contains(st.Alarms[0], "GPS distrusted") || !strings.Contains(st.GPSCheck, "vetoed") {
		t.Errorf("alarms %q, GPS check %q: want the veto", st.Alarms, st.GPSCheck)
	}
	if err := math.Abs(float64(w.soft.Map(w.nowNs) - w.tl.GPSAt(w.nowNs))); err > 5e6 {
		t.Errorf("serving the upstreams' time %.3f ms off the truth", err/1e6)
	}
	// The receiver labels right again: trusted only after the hold-off.
	wrong = false
	right := w.second
	for k := 0; k < 200 && w.eng.Ref().Load().State != PPS; k++ {
		if k%16 == 2 {
			w.upstream(true)
		}
		w.stepLabelled(0, true)
		note()
	}
	if st := w.eng.Status(); st.Ref.State != PPS {
		t.Fatalf("receiver right again for 200 s: state %v, alarms %q", st.Ref.State, st.Alarms)
	}
	if held := w.second - right; held < vetoHoldoffNs/1e9 {
		t.Errorf("trusted again after %d s, want the %v s hold-off", held, vetoHoldoffNs/1e9)
	}
	want := []State{Unsynchronised, Upstream, PPS}
	if !statesEqual(seen, want) {
		t.Errorf("states %v, want %v", seen, want)
	}
}

// A Pi boots in 1970 with the receiver silent: the first estimate the
// upstreams agree on sets the clock.
func TestUpstreamBootStep(t *testing.T) {
	w := newWorldAt(t, Config{PPS: true, NMEADelayNs: 120e6, Upstreams: true, Fallback: true}, 42e9, 1_790_000_000e9, 0)
	w.upstream(false) // not enough agree yet: nothing happens
	if got := w.soft.Map(w.nowNs); got > 1e12 {
		t.Fatalf("clock set from an estimate too few servers agree on: %d", got)
	}
	w.nowNs += 2e9
	w.upstream(true)
	if err := math.Abs(float64(w.soft.Map(w.nowNs) - w.tl.GPSAt(w.nowNs))); err > 1e6 {
		t.Errorf("after the boot step the clock is %.3f ms off", err/1e6)
	}
	if st := w.eng.Status(); st.Ref.State != Upstream || st.Counters.Steps != 1 {
		t.Errorf("state %v, %d steps; want upstream after one step", st.Ref.State, st.Counters.Steps)
	}
}

// Upstreams that stop answering end the fallback: unsynchronised, not
// their old time served for ever.
func TestUpstreamStale(t *testing.T) {
	w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6, Upstreams: true, Fallback: true}, 0, 0)
	w.upstream(true)
	w.step(1000, 120e6, false, false)
	if s := w.eng.Ref().Load().State; s != Upstream {
		t.Fatalf("state %v, want upstream", s)
	}
	for k := 0; k < int(upstreamStaleNs/1e9)+10 && w.eng.Ref().Load().State == Upstream; k++ {
		w.step(1000, 120e6, false, false)
	}
	if s := w.eng.Ref().Load().State; s != Unsynchronised {
		t.Errorf("state %v after the upstreams went quiet for %v s, want unsync", s, upstreamStaleNs/1e9)
	}
}

// The receiver goes silent, the upstreams' time (30 µs off the truth,
// well within what they claim) is served after holdover, and the receiver
// comes back: from its first synchronised reply on, the bound the engine
// claims covers the clock's real error. The receiver's servo must not
// take its old phase estimate for the clock the upstreams steered: it had
// the clock 30 µs off while claiming a few µs.
func TestUpstreamBackToReceiverKeepsItsBound(t *testing.T) {
	w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6, Upstreams: true, Fallback: true, HoldoverMaxNs: 10e9}, 0, 3)
	upstream := func() { w.upstreamOff(true, 30e3) }
	var seen []State
	check := func(phase string) {
		r := w.eng.Ref().Load()
		if len(seen) == 0 || seen[len(seen)-1] != r.State {
			seen = append(seen, r.State)
		}
		if !r.Synchronised {
			return
		}
		at := w.soft.Map(w.nowNs)
		if e, b := math.Abs(w.errNs()), float64(r.RootDelayNs)/2+float64(r.RootDispersionAt(at)); e > b {
			t.Fatalf("%s, second %d, state %v: clock %.1f µs off, claims %.1f µs", phase, w.second, r.State, e/1e3, b/1e3)
		}
	}
	for k := range 300 {
		if k%16 == 2 {
			upstream()
		}
		w.step(1000, 120e6, true, true)
		check("locked")
	}
	for k := range 120 { // silent: holdover, then the upstreams
		if k%16 == 2 {
			upstream()
		}
		w.step(1000, 120e6, false, false)
		check("silent")
	}
	for k := range 300 {
		if k%16 == 2 {
			upstream()
		}
		w.step(1000, 120e6, true, true)
		check("back")
	}
	if want := []State{Unsynchronised, Upstream, PPS, Holdover, Upstream, PPS}; !statesEqual(seen, want) {
		t.Errorf("states %v, want %v", seen, want)
	}
}
