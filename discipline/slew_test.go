package discipline

import (
	"math"
	"testing"
)

// The slew ledger says how far the engine moved the clock on purpose: an
// offset to the upstreams measured at one poll, re-expressed with
// SlewedNs, is what the next poll measures, while the upstream servo slews
// 20 ms away with the receiver silent (a 3 ppm crystal the servo learns).
// Taken as it was, the old offset is milliseconds off.
func TestSlewLedgerFollowsTheClock(t *testing.T) {
	w := newWorld(t, Config{PPS: true, NMEADelayNs: 120e6, Upstreams: true, Fallback: true}, 0, 3)
	const theirsNs = 20e6 // the upstreams' time minus the truth
	oursMinusTheirs := func() float64 { return w.errNs() - theirsNs }
	var prevOffNs, prevSlewedNs float64
	var worstNs, slewedMaxNs float64
	for poll := 0; poll < 20; poll++ {
		served := w.soft.Map(w.nowNs)
		off, slewed := oursMinusTheirs(), w.eng.SlewedNs(served)
		if poll > 0 {
			// The engine's sign: ours minus theirs grows as ours is slewed ahead.
			errNs := math.Abs(prevOffNs + (slewed - prevSlewedNs) - off)
			t.Logf("poll %2d: offset %+9.3f ms, slewed since the last %+8.3f ms, re-expressed last offset off by %6.1f µs",
				poll, off/1e6, (slewed-prevSlewedNs)/1e6, errNs/1e3)
			worstNs = math.Max(worstNs, errNs)
			slewedMaxNs = math.Max(slewedMaxNs, math.Abs(slewed-prevSlewedNs))
		}
		prevOffNs, prevSlewedNs = off, slewed
		w.upstreamOff(true, theirsNs)
		if s := w.eng.Ref().Load().State; s != Upstream {
			t.Fatalf("poll %d: state %v, want upstream", poll, s)
		}
		for range 16 {
			w.step(1000, 120e6, false, false)
		}
	}
	if slewedMaxNs < 5e6 {
		t.Errorf("the most slewed between polls is %.3f ms, want ≥ 5 ms (20 ms to slew with τ 16 s)", slewedMaxNs/1e6)
	}
	// 3 ppm unknown at first: 48 µs over the first 16 s.
	if worstNs > 100e3 {
		t.Errorf("a poll's offset re-expressed 16 s later is up to %.1f µs off the next poll's, want ≤ 100 µs", worstNs/1e3)
	}
	if err := math.Abs(oursMinusTheirs()); err > 100e3 {
		t.Errorf("after 20 polls the clock is %.1f µs off the upstreams' time", err/1e3)
	}
}
