package upstream

import (
	"math"
	"sort"
)

// Tally codes, as ntpq -p shows them.
const (
	TallySysPeer    = '*' // the system peer
	TallyCandidate  = '+' // a survivor, combined into the estimate
	TallyOutlier    = '-' // a truechimer the cluster algorithm discarded
	TallyFalse      = 'x' // a falseticker: outside the intersection
	TallyBackup     = '#' // a survivor beyond maxCombine: selected, not combined
	TallyNotUsed    = ' ' // not a candidate (unreachable, noselect, stopped, no samples)
	maxCombine      = 6   // survivors combined at most
	minClusterPeers = 3   // NMIN: the cluster algorithm keeps at least this many
)

// candidate is one source fit for selection, as the selection sees it:
// its offset (upstream minus our clock) and root distance λ, in ns.
type candidate struct {
	offsetNs   float64
	rootDistNs float64
	jitterNs   float64
	stratum    int
	prefer     bool
	true_      bool // ntpd's `true`: always a truechimer
}

// selection is the outcome of selectSources. Indexes refer to the
// candidate slice given.
type selection struct {
	tally       []byte
	truechimers int
	low, high   float64 // the intersection, ns (offsets)
	survivors   []int   // combined, best merit first
	sysPeer     int     // -1: none
	offsetNs    float64 // the combined offset
}

// selectSources runs RFC 5905 section 11.2: the intersection (Marzullo's
// algorithm as ntpd runs it) picks the truechimers, the cluster algorithm
// trims outliers, and the survivors are combined weighted by 1/λ. A
// `prefer` survivor is the system peer and, as in ntpd, its offset alone
// is the estimate.
func selectSources(c []candidate) selection {
	n := len(c)
	sel := selection{tally: make([]byte, n), sysPeer: -1}
	for i := range sel.tally {
		sel.tally[i] = TallyFalse
	}
	if n == 0 {
		return sel
	}
	type edge struct {
		v float64
		t int // -1 lower, 0 midpoint, +1 upper
	}
	e := make([]edge, 0, 3*n)
	for _, s := range c {
		e = append(e, edge{s.offsetNs - s.rootDistNs, -1}, edge{s.offsetNs, 0}, edge{s.offsetNs + s.rootDistNs, 1})
	}
	sort.Slice(e, func(i, j int) bool {
		if e[i].v != e[j].v {
			return e[i].v < e[j].v
		}
		return e[i].t < e[j].t // at a tie, lower ends first: touching intervals intersect
	})
	// Allow f falsetickers, f < n/2, fewest first: the intersection is
	// the interval contained in at least n−f correctness intervals, and
	// it must hold no more than f midpoints outside it.
	var low, high float64
	found := false
	for allow := 0; 2*allow < n; allow++ {
		mids, chime := 0, 0
		low, high = math.Inf(1), math.Inf(-1)
		for _, x := range e {
			chime -= x.t // a lower end adds one, an upper end takes one
			if x.t != 0 && chime >= n-allow {
				low = x.v
				break
			}
			if x.t == 0 {
				mids++
			}
		}
		chime = 0
		for i := len(e) - 1; i >= 0; i-- {
			x := e[i]
			chime += x.t
			if x.t != 0 && chime >= n-allow {
				high = x.v
				break
			}
			if x.t == 0 {
				mids++
			}
		}
		if mids > allow {
			continue
		}
		if high >= low {
			found = true
			break
		}
	}
	var tc []int
	for i, s := range c {
		in := found && s.offsetNs+s.rootDistNs >= low && s.offsetNs-s.rootDistNs <= high
		if in || s.true_ {
			tc = append(tc, i)
			sel.tally[i] = TallyOutlier
		}
	}
	sel.truechimers = len(tc)
	if len(tc) == 0 {
		return sel
	}
	if !found { // only `true` sources: their span
		low, high = math.Inf(1), math.Inf(-1)
		for _, i := range tc {
			low = min(low, c[i].offsetNs-c[i].rootDistNs)
			high = max(high, c[i].offsetNs+c[i].rootDistNs)
		}
	}
	sel.low, sel.high = low, high
	// Merit: stratum first, then root distance (RFC 5905 section 11.2.2).
	merit := func(i int) float64 { return float64(c[i].stratum)*maxDistNs + c[i].rootDistNs }
	sort.SliceStable(tc, func(a, b int) bool { return merit(tc[a]) < merit(tc[b]) })
	// Cluster: drop the survivor with the largest selection jitter while
	// that exceeds the smallest peer jitter, keeping at least NMIN and
	// never a prefer source.
	surv := tc
	for len(surv) > minClusterPeers {
		worst, worstJ, minPeerJ := -1, -1.0, math.Inf(1)
		for _, i := range surv {
			var sum float64
			for _, j := range surv {
				d := c[j].offsetNs - c[i].offsetNs
				sum += d * d
			}
			sj := math.Sqrt(sum / float64(len(surv)-1))
			if sj > worstJ && !c[i].prefer {
				worst, worstJ = i, sj
			}
			minPeerJ = min(minPeerJ, c[i].jitterNs)
		}
		if worst < 0 || worstJ <= minPeerJ {
			break
		}
		next := surv[:0:0]
		for _, i := range surv {
			if i != worst {
				next = append(next, i)
			}
		}
		surv = next
	}
	for k, i := range surv {
		if k < maxCombine {
			sel.tally[i] = TallyCandidate
		} else {
			sel.tally[i] = TallyBackup
		}
	}
	if len(surv) > maxCombine {
		surv = surv[:maxCombine]
	}
	sel.survivors = surv
	sel.sysPeer = surv[0]
	for _, i := range surv {
		if c[i].prefer {
			sel.sysPeer = i
			break
		}
	}
	sel.tally[sel.sysPeer] = TallySysPeer
	if c[sel.sysPeer].prefer {
		sel.offsetNs = c[sel.sysPeer].offsetNs
		return sel
	}
	var num, den float64
	for _, i := range surv {
		w := 1 / max(c[i].rootDistNs, 1)
		num += w * c[i].offsetNs
		den += w
	}
	sel.offsetNs = num / den
	return sel
}
