package discipline

import "testing"

func TestSimulateScenarios(t *testing.T) {
	for _, sc := range Scenarios() {
		sc := sc
		t.Run(sc.Name, func(t *testing.T) {
			r := Simulate(sc, 1)
			t.Log(r.String())
		})
	}
}
