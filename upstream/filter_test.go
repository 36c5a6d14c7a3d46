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
	got, ok := f.eval(decades+71e9, 0)
	if !ok || math.Abs(got.offsetNs) > 1e4 || got.jitterNs > 1e4 {
		t.Errorf("after the step: offset %v ns, jitter %v ns; want both within 10 µs", got.offsetNs, got.jitterNs)
	}
}

// Samples taken before a slew are re-expressed on the clock as slewed
// since: the least delayed one, 20 ms ahead before 15 ms of slew, says
// 5 ms now, and the jitter is the samples' spread on one clock, not the
// slew.
func TestFilterSlewed(t *testing.T) {
	var f filter
	for i := range int64(4) {
		// The clock slews ahead 5 ms per sample; each measures what is left.
		f.add(measurement{offsetNs: 20e6 - float64(i)*5e6, delayNs: 1e6 + float64(i)*1e3, dispNs: 1e3, atNs: 60e9 + i*2e9, slewedNs: float64(i) * 5e6})
	}
	got, ok := f.eval(70e9, 15e6)
	if !ok || math.Abs(got.offsetNs-5e6) > 1 || got.jitterNs > 1e3 {
		t.Errorf("after 15 ms of slew: offset %.3f ms, jitter %.3f ms; want 5 ms and ≤ 1 µs", got.offsetNs/1e6, got.jitterNs/1e6)
	}
	if old, _ := f.eval(70e9, 0); math.Abs(old.offsetNs-20e6) > 1 {
		t.Errorf("not slewed: offset %.3f ms, want the least delayed sample's 20 ms", old.offsetNs/1e6)
	}
}
