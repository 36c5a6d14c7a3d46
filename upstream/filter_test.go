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
