package simtime

import "testing"

func TestRoundTrip(t *testing.T) {
	tl := Timeline{StartHostNs: 1_700_000_000_000_000_000, OffsetNs: 1_234_567_000, FreqPPM: 37}
	for _, h := range []int64{tl.StartHostNs, tl.StartHostNs + 1e9, tl.StartHostNs + 3600e9, tl.StartHostNs - 5e9} {
		g := tl.GPSAt(h)
		if back := tl.HostAt(g); back-h > 1 || h-back > 1 {
			t.Errorf("HostAt(GPSAt(%d)) = %d, want %d ±1", h, back, h)
		}
	}
	if got, want := tl.OffsetAt(tl.StartHostNs+100e9), int64(1_234_567_000+3_700_000); got != want {
		t.Errorf("OffsetAt(start+100s) = %d, want %d", got, want)
	}
}
