package discipline

import (
	"math/rand/v2"
	"testing"
)

func TestMedianTrackerGaussian(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sigma := range []float64{1, 1000, 5e6} {
		var m medianTracker
		for i := 0; i < 20000; i++ {
			x := rng.NormFloat64() * sigma
			if rng.Float64() < 0.01 { // 1 % gross outliers
				x = 100 * sigma
			}
			if x < 0 {
				x = -x
			}
			m.add(x)
		}
		if got := m.sigma() / sigma; got < 0.93 || got > 1.07 {
			t.Errorf("medianTracker σ estimate for σ=%g = %.3fσ, want within 7 %%", sigma, got)
		}
	}
}
