package upstream

import (
	"math"
	"sort"
)

// filterStages is the clock filter's length (RFC 5905 section 10).
const filterStages = 8

// filter is an association's clock filter (RFC 5905 section 10): the last
// eight measurements; the one with the lowest delay is the association's
// offset, because the least delayed exchange is the least disturbed by
// queueing on either leg.
type filter struct {
	s [filterStages]measurement // newest first
	n int
}

func (f *filter) add(m measurement) {
	copy(f.s[1:], f.s[:filterStages-1])
	f.s[0] = m
	f.n = min(f.n+1, filterStages)
}

// stepped shifts every stage by a step of our clock (deltaNs added to it):
// the offsets were measured against the clock before, so they shrink by
// the step, and their times move with it. Without this, samples from
// before a boot-time step (decades of offset) stay in the filter for
// eight polls, and their spread makes the source's jitter, and so its
// root distance, too large to select it.
func (f *filter) stepped(deltaNs int64) {
	for i := 0; i < f.n; i++ {
		f.s[i].offsetNs -= float64(deltaNs)
		f.s[i].atNs += deltaNs
	}
}

// filtered is what the clock filter says at a given time.
type filtered struct {
	offsetNs, delayNs float64
	dispNs            float64 // aged to the evaluation time
	jitterNs          float64 // RMS of the other samples' offsets from the chosen one
	atNs              int64   // when the chosen sample was taken
}

// eval returns the filter's output at nowNs (served clock), ok false when
// empty. slewedNowNs is Config.Slews now: each stage's offset is
// re-expressed on the clock as it is now, which has been slewed by
// slewedNowNs − the stage's slewedNs since, so the upstream is that much
// less ahead of it. Each stage's dispersion grows at PHI since its
// sample; the filter dispersion is Σ ε_i / 2^(i+1) over the stages sorted
// by delay. RFC 5905 counts missing stages as MAXDISP, which keeps a new
// source out of selection for four or five polls; here only real samples
// count, so the boot-time estimate comes from the first burst (its
// intersection, not one sample's word, decides).
func (f *filter) eval(nowNs int64, slewedNowNs float64) (filtered, bool) {
	if f.n == 0 {
		return filtered{}, false
	}
	offNs := func(i int) float64 { return f.s[i].offsetNs - (slewedNowNs - f.s[i].slewedNs) }
	idx := make([]int, f.n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return f.s[idx[a]].delayNs < f.s[idx[b]].delayNs })
	best := f.s[idx[0]]
	out := filtered{offsetNs: offNs(idx[0]), delayNs: best.delayNs, atNs: best.atNs}
	w := 0.5
	for _, i := range idx {
		age := float64(max(nowNs-f.s[i].atNs, 0))
		out.dispNs += w * (f.s[i].dispNs + phiPPM*1e-6*age)
		w /= 2
	}
	if f.n > 1 {
		var sum float64
		for _, i := range idx[1:] {
			d := offNs(i) - out.offsetNs
			sum += d * d
		}
		out.jitterNs = math.Sqrt(sum / float64(f.n-1))
	}
	out.jitterNs = max(out.jitterNs, localPrecisionNs)
	return out, true
}
