package discipline

import "testing"

// The acceptance figures of the discipline (issue 5): for every scenario
// the servo, which learns the noise it is given, stays within 1.25× of a
// Kalman filter told the true noise, never steps after lock, never labels a
// second wrongly, locks fast, and holds over as well as the oscillator
// allows.
func TestSimulateScenarios(t *testing.T) {
	for _, sc := range Scenarios() {
		sc := sc
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			r := Simulate(sc, 1)
			t.Log(r.String())
			if r.RMSNs > 1.25*r.BoundRMSNs {
				t.Errorf("rms_ns = %.0f, want ≤ 1.25 × bound %.0f", r.RMSNs, r.BoundRMSNs)
			}
			if r.StepsAfterLock != 0 {
				t.Errorf("steps_after_lock = %d, want 0", r.StepsAfterLock)
			}
			if r.MislabeledS != 0 {
				t.Errorf("mislabeled_s = %d, want 0", r.MislabeledS)
			}
			if err := overBound(sc, r); err != "" {
				t.Error(err)
			}
			maxLock := int64(30)
			if !sc.DriftFile {
				maxLock = 120
			}
			if r.LockS < 0 || r.LockS > maxLock {
				t.Errorf("lock_s = %d, want 0..%d", r.LockS, maxLock)
			}
			if sc.LossS > 0 && r.Holdover1hUs > 1.5*r.HoldoverModelUs {
				t.Errorf("holdover_1h_us = %.1f, want ≤ 1.5 × model %.1f", r.Holdover1hUs, r.HoldoverModelUs)
			}
		})
	}
}

// A different seed must not change the verdicts (the figures are not a
// lucky draw).
func TestSimulateOtherSeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds of CPU")
	}
	for _, seed := range []uint64{2, 3, 4, 5, 6} {
		for _, sc := range Scenarios() {
			if sc.LossS > 0 {
				continue // covered with 16 seeds above
			}
			r := Simulate(sc, seed)
			if r.RMSNs > 1.25*r.BoundRMSNs || r.StepsAfterLock != 0 || r.MislabeledS != 0 || overBound(sc, r) != "" {
				t.Errorf("seed %d: %s", seed, r)
			}
		}
	}
}

// overBound says what is wrong with how often the served error exceeded
// the advertised root dispersion: never, unless the crystal's frequency
// jumps (a temperature step of 0.5 ppm in one second outruns any filter
// for a second or two), and then in under 1 % of the seconds.
func overBound(sc Scenario, r Result) string {
	switch {
	case sc.ThermalStepPPB == 0 && r.OverBoundS != 0:
		return "over_bound_s = " + itoa(r.OverBoundS) + ", want 0"
	case r.OverBoundS > sc.Seconds/100:
		return "over_bound_s = " + itoa(r.OverBoundS) + ", want ≤ 1 % of " + itoa(sc.Seconds) + " s"
	}
	return ""
}
