package upstream

import (
	"math"
	"testing"
)

// A step of our clock (a Pi set from 1970) shifts the samples kept: they
// stay usable, and do not make the source look jittery.
func TestFilterStepped(t *testing.T) {
	const decades = 1_790_000_000e9 // upstream minus our clock at 1970
	var f filter
	for i := int64(0); i < 4; i++ {
		f.add(measurement{offsetNs: decades + float64(i)*1e3, delayNs: 1e6 + float64(i)*1e3, dispNs: 1e3, atNs: 60e9 + i*2e9})
	}
	f.stepped(decades)
	f.add(measurement{offsetNs: 5e3, delayNs: 2e6, dispNs: 1e3, atNs: decades + 70e9})
	got, ok := f.eval(decades + 71e9)
	if !ok || math.Abs(got.offsetNs) > 1e4 || got.jitterNs > 1e4 {
		t.Errorf("after the step: offset %v ns, jitter %v ns; want both within 10 µs", got.offsetNs, got.jitterNs)
	}
}

// While our clock slews (a frequency correction for a while, as the
// engine makes its phase corrections), samples of a perfect upstream taken
// before, during and after it agree once each change has been passed to
// the filter: each says the clock's offset now.
func TestFilterSlewed(t *testing.T) {
	const slewPPB = 500_000                // 500 ppm, from 25 s to 55 s: +15 ms
	phaseNs := func(atS float64) float64 { // our clock minus true time
		return slewPPB * 1e-9 * 1e9 * max(0, min(atS, 55)-25)
	}
	var f, raw filter
	changes := []struct {
		atS   float64
		delta float64
	}{{25, slewPPB}, {55, -slewPPB}}
	for i := range 8 {
		atS := float64(i * 10)
		for len(changes) > 0 && changes[0].atS <= atS {
			f.frequencyChanged(changes[0].delta, int64(changes[0].atS*1e9+phaseNs(changes[0].atS)))
			changes = changes[1:]
		}
		m := measurement{offsetNs: -phaseNs(atS), delayNs: 1e6 + float64(i), dispNs: 1e3, atNs: int64(atS*1e9 + phaseNs(atS))}
		f.add(m)
		raw.add(m)
	}
	// Within the second-order error: the changes are timed on our clock,
	// whose time differs from the true course by the slew itself (15 ms),
	// times the change (500 ppm): 7.5 ns per ms, 7.5 µs.
	const tolNs = 10e3
	for i := 0; i < f.n; i++ {
		if d := f.s[i].offsetNs - -phaseNs(70); math.Abs(d) > tolNs {
			t.Errorf("stage %d (taken at %d s): offset %.0f ns, want %.0f (the clock's offset now)", i, f.s[i].atNs/1e9, f.s[i].offsetNs, -phaseNs(70))
		}
	}
	got, _ := f.eval(int64(70e9 + phaseNs(70)))
	uncorrected, _ := raw.eval(int64(70e9 + phaseNs(70)))
	if got.jitterNs > tolNs || uncorrected.jitterNs < 1e6 {
		t.Errorf("jitter %.0f ns (uncorrected %.0f ns): want under 10 µs (and the uncorrected over 1 ms)", got.jitterNs, uncorrected.jitterNs)
	}
}

// The client passes a frequency change on to every association's filter,
// as the difference from the last one it was told; the first only sets
// the course (the engine's first SetFrequency is no change to samples
// that do not exist yet).
func TestClientFrequencySet(t *testing.T) {
	a := &assoc{}
	a.f.add(measurement{offsetNs: 0, delayNs: 1e6, atNs: 100e9})
	c := &Client{sources: []*source{{assocs: []*assoc{a}}}}
	c.FrequencySet(45_000, 110e9) // the course: 45 ppm
	c.FrequencySet(45_000, 115e9) // no change
	if got := a.f.s[0].offsetNs; got != 0 {
		t.Fatalf("after the first call and no change: offset %v ns, want 0", got)
	}
	c.FrequencySet(545_000, 120e9) // +500 ppm, 20 s after the sample
	if got, want := a.f.s[0].offsetNs, 500e-6*20e9; math.Abs(got-want) > 1e-3 {
		t.Errorf("after +500 ppm: offset %v ns, want %v", got, want)
	}
}
