package web

import (
	"cmp"
	"math"
	"slices"
	"sync"

	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// Group is a class of NTP server outcomes the requests plot shows.
type Group uint8

const (
	GroupReplied Group = iota // synchronised replies and mode 6 answers
	GroupUnsync               // replies saying unsynchronised
	GroupKoD                  // kiss-o'-death RATE sent
	GroupDropped              // no reply (malformed, restricted, rate limited, …)
	NumGroups
)

var groupNames = [NumGroups]string{"replied", "unsync", "kod", "dropped"}

// String is the group's name, the key the page uses.
func (g Group) String() string { return groupNames[g] }

// groupOf classes an outcome, from ntpserve's one list of them.
func groupOf(o ntpserve.Outcome) Group {
	switch {
	case o == ntpserve.OutReplyUnsync:
		return GroupUnsync
	case o == ntpserve.OutKoD:
		return GroupKoD
	case o.Dropped():
		return GroupDropped
	}
	return GroupReplied
}

// Sample is one point of the history: the status at served time T (Unix
// seconds), or a minute's aggregate starting at T. Offsets are signed,
// positive meaning our clock is ahead of UTC. NaN: no value (BoundNs while
// unsynchronised: no bound is advertised).
type Sample struct {
	T        int64
	OffsetNs float32 // servo offset (minute: mean)
	BoundNs  float32 // advertised error bound, root dispersion (minute: max)
	JitterNs float32 // (minute: mean)
	FreqPPB  float32 // frequency correction, positive: sped up (minute: mean)
	// MissedPerS is PPS pulses missed per second; ReqPerS the server's
	// packets per second by Group (minute: means over the minute).
	MissedPerS float32
	ReqPerS    [NumGroups]float32
}

// sampleBytes is the size of a Sample in the history file.
const sampleBytes = 8 + 4*(5+int(NumGroups))

// ring is a fixed-size ring of samples, oldest first.
type ring struct {
	buf  []Sample
	head int // index of the oldest
	n    int
}

func newRing(size int) ring { return ring{buf: make([]Sample, size)} }

func (r *ring) push(s Sample) {
	if r.n < len(r.buf) {
		r.buf[(r.head+r.n)%len(r.buf)] = s
		r.n++
		return
	}
	r.buf[r.head] = s
	r.head = (r.head + 1) % len(r.buf)
}

func (r *ring) at(i int) Sample { return r.buf[(r.head+i)%len(r.buf)] }

func (r *ring) last() (Sample, bool) {
	if r.n == 0 {
		return Sample{}, false
	}
	return r.at(r.n - 1), true
}

// dropFrom removes the newest samples at or after t (time went back: a
// clock step, or a first synchronisation after a boot in 1970).
func (r *ring) dropFrom(t int64) {
	for r.n > 0 && r.at(r.n-1).T >= t {
		r.n--
	}
}

// since is the samples from t on, oldest first.
func (r *ring) since(t int64) []Sample {
	out := make([]Sample, 0, r.n)
	for i := 0; i < r.n; i++ {
		if s := r.at(i); s.T >= t {
			out = append(out, s)
		}
	}
	return out
}

// Sizes of the two rings: an hour of seconds and a day of minutes.
const (
	SecondsKept = 3600
	MinutesKept = 24 * 60
)

// History is the last hour at one sample a second and the last day at
// one a minute, in fixed memory. Safe for concurrent use.
type History struct {
	mu      sync.Mutex
	sec     ring
	min     ring
	acc     minuteAcc
	prev    *ctl.Snapshot // the last snapshot added, for per-second rates
	pending []Sample      // loaded from a file, merged at the first synchronised snapshot
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{sec: newRing(SecondsKept), min: newRing(MinutesKept)}
}

// minuteAcc sums the samples of the minute starting at t.
type minuteAcc struct {
	t                          int64
	n, nOffset, nBound         int
	offset, jitter, freq, miss float64
	bound                      float64
	req                        [NumGroups]float64
}

func (a *minuteAcc) add(s Sample) {
	a.n++
	if !isNaN32(s.OffsetNs) {
		a.nOffset++
		a.offset += float64(s.OffsetNs)
		a.jitter += float64(s.JitterNs)
		a.freq += float64(s.FreqPPB)
	}
	if !isNaN32(s.BoundNs) {
		a.nBound++
		a.bound = max(a.bound, float64(s.BoundNs))
	}
	a.miss += float64(s.MissedPerS)
	for g := range a.req {
		a.req[g] += float64(s.ReqPerS[g])
	}
}

func (a *minuteAcc) sample() Sample {
	nan := float32(math.NaN())
	s := Sample{T: a.t, OffsetNs: nan, JitterNs: nan, FreqPPB: nan, BoundNs: nan}
	if a.nOffset > 0 {
		k := float64(a.nOffset)
		s.OffsetNs, s.JitterNs, s.FreqPPB = float32(a.offset/k), float32(a.jitter/k), float32(a.freq/k)
	}
	if a.nBound > 0 {
		s.BoundNs = float32(a.bound)
	}
	s.MissedPerS = float32(a.miss / float64(a.n))
	for g := range a.req {
		s.ReqPerS[g] = float32(a.req[g] / float64(a.n))
	}
	return s
}

func isNaN32(f float32) bool { return f != f }

// Add records the snapshot s (taken about a second after the last one).
// A snapshot already added (same served time) is ignored. It returns the
// second's sample and whether one was recorded.
func (h *History) Add(s *ctl.Snapshot) (Sample, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s == nil || (h.prev != nil && s.Time.Equal(h.prev.Time)) {
		return Sample{}, false
	}
	prev := h.prev
	h.prev = s
	t := s.Time.Unix()
	if h.pending != nil && s.Synchronised {
		h.merge(t)
	}
	nan := float32(math.NaN())
	smp := Sample{T: t, OffsetNs: float32(s.OffsetNs), JitterNs: float32(s.JitterNs), FreqPPB: float32(s.FreqPPB), BoundNs: nan}
	if s.State == "unsync" {
		smp.OffsetNs, smp.JitterNs = nan, nan
	}
	if s.Synchronised {
		smp.BoundNs = float32(s.RootDispersionNs)
	}
	// Rates over the time since the last snapshot; none across a restart
	// of the counters or a clock step (dt out of reason).
	if prev != nil {
		if dt := s.Time.Sub(prev.Time).Seconds(); dt > 0.5 && dt < 10 {
			if s.PPS.Missed >= prev.PPS.Missed {
				smp.MissedPerS = float32(float64(s.PPS.Missed-prev.PPS.Missed) / dt)
			}
			var d [NumGroups]uint64
			for o := range ntpserve.NumOutcomes {
				now, then := s.Server.Counts.Outcomes[o], prev.Server.Counts.Outcomes[o]
				if now >= then {
					d[groupOf(o)] += now - then
				}
			}
			for g := range d {
				smp.ReqPerS[g] = float32(float64(d[g]) / dt)
			}
		}
	}
	h.addSample(smp)
	return smp, true
}

// addSample puts a second's sample in the hour ring and its minute's
// aggregate, closing the minute before when it starts a new one.
func (h *History) addSample(smp Sample) {
	t := smp.T
	if last, ok := h.sec.last(); ok && t <= last.T {
		// Time went back (a step): forget what now lies in the future.
		h.sec.dropFrom(t)
		h.min.dropFrom(t - t%60)
		if h.acc.t >= t-t%60 {
			h.acc = minuteAcc{}
		}
	}
	h.sec.push(smp)
	m := t - mod(t, 60)
	if h.acc.n > 0 && h.acc.t != m {
		h.min.push(h.acc.sample())
		h.acc = minuteAcc{}
	}
	h.acc.t = m
	h.acc.add(smp)
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// merge puts the loaded minutes together with those recorded, keeping
// what is plausible at served time now: within the last day, none in the
// future (samples taken before the clock was set, on a board that booted
// in 1970, go too). A minute both loaded and recorded is the recorded one.
func (h *History) merge(now int64) {
	plausible := func(t int64) bool { return t > now-MinutesKept*60 && t+60 <= now }
	byT := map[int64]Sample{}
	for _, s := range h.pending {
		if plausible(s.T) {
			byT[s.T] = s
		}
	}
	for _, s := range h.min.since(math.MinInt64) {
		if plausible(s.T) {
			byT[s.T] = s
		}
	}
	all := make([]Sample, 0, len(byT))
	for _, s := range byT {
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b Sample) int { return cmp.Compare(a.T, b.T) })
	h.min = newRing(MinutesKept)
	for _, s := range all {
		h.min.push(s)
	}
	if !plausible(h.acc.t) && h.acc.t != now-mod(now, 60) {
		h.acc = minuteAcc{}
	}
	h.pending = nil
}

// Seconds is the hour ring from served time t on; Minutes the day ring
// (with the minute in progress, when it has samples, last).
func (h *History) Seconds(t int64) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sec.since(t)
}

// Minutes is the day ring's samples from t on, oldest first; before
// the first synchronised snapshot, with those loaded from the file.
func (h *History) Minutes(t int64) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.minutes(t)
}

func (h *History) minutes(t int64) []Sample {
	out := h.min.since(t)
	if h.pending == nil {
		return out
	}
	var first int64 = math.MaxInt64
	if len(out) > 0 {
		first = out[0].T
	}
	var old []Sample
	for _, s := range h.pending {
		if s.T >= t && s.T < first {
			old = append(old, s)
		}
	}
	return append(old, out...)
}

// LastMinute is the newest complete minute.
func (h *History) LastMinute() (Sample, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.min.last()
}
