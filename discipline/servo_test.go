package discipline

import (
	"math"
	"math/rand/v2"
	"testing"
)

// simLoop closes the loop around a Servo with a modelled clock: the served
// clock's true error θ grows at (oscPPB + F) ns per second, where F is the
// servo's correction; each second the servo sees θ plus Gaussian noise of
// σ = jitterNs, with an outlier of outlierNs on a fraction of samples.
type simResult struct {
	lockS        int
	rmsNs, maxNs float64
	stepsAfter   int
}

func simLoop(t *testing.T, seed uint64, oscPPB, initThetaNs, jitterNs float64, outlierFrac, outlierNs float64, seconds int, cfg ServoConfig) simResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	s := NewServo(cfg)
	theta := initThetaNs
	var F float64
	var res simResult
	res.lockS = -1
	var sum2 float64
	var n int
	for k := 0; k < seconds; k++ {
		z := theta + rng.NormFloat64()*jitterNs
		if rng.Float64() < outlierFrac {
			z += outlierNs * (0.1 + 0.9*rng.Float64())
		}
		a := s.Sample(z, int64(k)*1e9, int64(k)*1e9)
		if a.StepNs != 0 {
			theta += float64(a.StepNs)
			if res.lockS >= 0 {
				res.stepsAfter++
			}
		}
		F = a.FreqPPB
		if a.Locked && res.lockS < 0 {
			res.lockS = k
		}
		if res.lockS >= 0 && k > res.lockS+60 {
			sum2 += theta * theta
			n++
			res.maxNs = math.Max(res.maxNs, math.Abs(theta))
		}
		theta += (oscPPB + F) * 1 // one second
	}
	if n > 0 {
		res.rmsNs = math.Sqrt(sum2 / float64(n))
	}
	return res
}

func TestServoLocksAndHolds(t *testing.T) {
	cases := []struct {
		name                   string
		oscPPB, theta0, jitter float64
		outFrac, outNs         float64
		maxLock                int
		maxRMS                 float64
	}{
		{"quiet offset 1.23s 37ppm", -37000, 1.234567e9, 1000, 0, 0, 30, 1000},
		{"quiet small offset", 12000, 50e3, 1000, 0, 0, 30, 1000},
		{"cold -50ppm", 50000, -0.3e9, 1000, 0, 0, 30, 1000},
		{"noisy outliers", -5000, 2e6, 5000, 0.01, 500e3, 60, 5000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := simLoop(t, 7, c.oscPPB, c.theta0, c.jitter, c.outFrac, c.outNs, 1800, ServoConfig{})
			if r.lockS < 0 || r.lockS > c.maxLock {
				t.Errorf("lock after %d s, want ≤ %d", r.lockS, c.maxLock)
			}
			if r.rmsNs > c.maxRMS {
				t.Errorf("RMS error %.0f ns, want ≤ %.0f", r.rmsNs, c.maxRMS)
			}
			if r.stepsAfter != 0 {
				t.Errorf("%d steps after lock, want 0", r.stepsAfter)
			}
			t.Logf("lock %d s, rms %.0f ns, max %.0f ns", r.lockS, r.rmsNs, r.maxNs)
		})
	}
}

func TestServoStepsOnlyPastThresholdOnceLocked(t *testing.T) {
	s := NewServo(ServoConfig{StepThresholdNs: 1e6})
	var theta float64 = 0
	for k := 0; k < 30; k++ {
		a := s.Sample(theta, int64(k)*1e9, int64(k)*1e9)
		theta += float64(a.StepNs)
	}
	if !s.Locked() {
		t.Fatal("not locked after 30 clean samples")
	}
	// A persistent 200 µs jump (below the 1 ms threshold) must be slewed.
	theta = 200e3
	for k := 30; k < 60; k++ {
		a := s.Sample(theta, int64(k)*1e9, int64(k)*1e9)
		if a.StepNs != 0 {
			t.Fatalf("Sample at %d s stepped %d ns for a 200 µs error, want slew", k, a.StepNs)
		}
		theta += a.FreqPPB
	}
	// A persistent 5 s jump is stepped.
	theta += 5e9
	stepped := false
	for k := 60; k < 90; k++ {
		a := s.Sample(theta, int64(k)*1e9, int64(k)*1e9)
		theta += float64(a.StepNs) + a.FreqPPB
		stepped = stepped || a.StepNs != 0
	}
	if !stepped || math.Abs(theta) > 1e6 {
		t.Errorf("after a 5 s jump: stepped=%v θ=%.0f ns, want a step and |θ| < 1 ms", stepped, theta)
	}
}
