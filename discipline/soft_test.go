package discipline

import "testing"

func TestSoftClock(t *testing.T) {
	now := int64(1_800_000_000_000_000_000)
	s := NewSoft(func() int64 { return now })
	if got := s.Now(); got != now {
		t.Fatalf("Now() with no correction = %d, want %d", got, now)
	}
	s.Step(1_234_567_000)
	if got, want := s.Now(), now+1_234_567_000; got != want {
		t.Fatalf("Now() after Step = %d, want %d", got, want)
	}
	s.SetFrequency(37_000) // +37 ppm
	now += 100e9
	if got, want := s.CorrectionNs(now), int64(1_234_567_000+3_700_000); got != want {
		t.Errorf("CorrectionNs 100 s after +37 ppm = %d, want %d", got, want)
	}
	// Changing frequency keeps served time continuous.
	before := s.Now()
	s.SetFrequency(-5_000)
	if after := s.Now(); after != before {
		t.Errorf("SetFrequency moved served time: %d → %d", before, after)
	}
	// Map of a past timestamp uses the correction in force.
	if got, want := s.Map(now-1e9), now-1e9+s.CorrectionNs(now)+5_000; got != want {
		t.Errorf("Map(now-1s) = %d, want %d", got, want)
	}
}

func TestSoftZeroAllocs(t *testing.T) {
	s := NewSoft(nil)
	if n := testing.AllocsPerRun(1000, func() { _ = s.Now(); _ = s.Map(12345) }); n != 0 {
		t.Errorf("Soft.Now+Map allocate %v times per call, want 0", n)
	}
}
