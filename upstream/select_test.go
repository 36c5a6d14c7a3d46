package upstream

import (
	"math"
	"testing"
)

func TestSelectSources(t *testing.T) {
	const ms = 1e6
	for _, c := range []struct {
		name   string
		cands  []candidate
		tally  string
		offset float64 // want the combined offset within 0.5 ms of this
		tc     int
	}{
		{"three agree, one 1 s off", []candidate{
			{offsetNs: 0.2 * ms, rootDistNs: 2 * ms, jitterNs: 0.1 * ms, stratum: 1},
			{offsetNs: -0.3 * ms, rootDistNs: 3 * ms, jitterNs: 0.1 * ms, stratum: 1},
			{offsetNs: 0.1 * ms, rootDistNs: 2 * ms, jitterNs: 0.1 * ms, stratum: 2},
			{offsetNs: 1000 * ms, rootDistNs: 2 * ms, jitterNs: 0.1 * ms, stratum: 1},
		}, "*++x", 0, 3},
		{"two against two: no majority", []candidate{
			{offsetNs: 0, rootDistNs: 1 * ms, stratum: 1},
			{offsetNs: 0, rootDistNs: 1 * ms, stratum: 1},
			{offsetNs: 500 * ms, rootDistNs: 1 * ms, stratum: 1},
			{offsetNs: 500 * ms, rootDistNs: 1 * ms, stratum: 1},
		}, "xxxx", 0, 0},
		{"one alone is its own truechimer", []candidate{{offsetNs: 7 * ms, rootDistNs: 1 * ms, stratum: 3}}, "*", 7 * ms, 1},
		{"prefer is the system peer and the offset", []candidate{
			{offsetNs: 0, rootDistNs: 1 * ms, jitterNs: 0.1 * ms, stratum: 1},
			{offsetNs: 0.8 * ms, rootDistNs: 5 * ms, jitterNs: 0.1 * ms, stratum: 2, prefer: true},
			{offsetNs: 0.1 * ms, rootDistNs: 1 * ms, jitterNs: 0.1 * ms, stratum: 1},
		}, "+*+", 0.8 * ms, 3},
		{"true is never outvoted", []candidate{
			{offsetNs: 0, rootDistNs: 1 * ms, stratum: 1},
			{offsetNs: 0, rootDistNs: 1 * ms, stratum: 1},
			{offsetNs: 900 * ms, rootDistNs: 1 * ms, stratum: 1, true_: true},
		}, "*++", 300 * ms, 3},
		{"an outlier among many is trimmed", []candidate{
			{offsetNs: 0, rootDistNs: 20 * ms, jitterNs: 0.1 * ms, stratum: 1},
			{offsetNs: 0.1 * ms, rootDistNs: 20 * ms, jitterNs: 0.1 * ms, stratum: 1},
			{offsetNs: -0.1 * ms, rootDistNs: 20 * ms, jitterNs: 0.1 * ms, stratum: 1},
			{offsetNs: 15 * ms, rootDistNs: 20 * ms, jitterNs: 0.1 * ms, stratum: 1},
		}, "*++-", 0, 4},
	} {
		got := selectSources(c.cands)
		if string(got.tally) != c.tally || got.truechimers != c.tc {
			t.Errorf("%s: selectSources = tally %q, %d truechimers; want %q, %d", c.name, got.tally, got.truechimers, c.tally, c.tc)
			continue
		}
		if c.tc > 0 && c.name != "true is never outvoted" && math.Abs(got.offsetNs-c.offset) > 0.5*ms {
			t.Errorf("%s: offset %v ns, want %v", c.name, got.offsetNs, c.offset)
		}
		if got.sysPeer >= 0 && (got.low > got.offsetNs && c.name != "true is never outvoted" || got.high < got.low) {
			t.Errorf("%s: intersection [%v, %v] offset %v", c.name, got.low, got.high, got.offsetNs)
		}
	}
}

func TestFilterLowestDelay(t *testing.T) {
	var f filter
	for i, m := range []measurement{
		{offsetNs: 5e6, delayNs: 9e6, dispNs: 1000, atNs: 1e9},
		{offsetNs: 1e6, delayNs: 1e6, dispNs: 1000, atNs: 2e9}, // the least delayed
		{offsetNs: 4e6, delayNs: 7e6, dispNs: 1000, atNs: 3e9},
	} {
		_ = i
		f.add(m)
	}
	got, ok := f.eval(3e9, 0)
	if !ok || got.offsetNs != 1e6 || got.delayNs != 1e6 || got.atNs != 2e9 {
		t.Errorf("eval = %+v, %v; want the 1 ms delay sample", got, ok)
	}
	if got.jitterNs < 3e6 || got.jitterNs > 4e6 {
		t.Errorf("jitter %v ns, want RMS of 4 and 3 ms ≈ 3.5 ms", got.jitterNs)
	}
	later, _ := f.eval(3e9+1000e9, 0) // 1000 s on: +15 ppm = 15 ms, weighted ≤ 1
	if d := later.dispNs - got.dispNs; d < 10e6 || d > 15.1e6 {
		t.Errorf("dispersion grew %v ns in 1000 s, want 15 ppm weighted (≈13 ms)", d)
	}
	for range 10 {
		f.add(measurement{offsetNs: 2e6, delayNs: 2e6})
	}
	if f.n != filterStages {
		t.Errorf("filter holds %d samples, want %d", f.n, filterStages)
	}
}
