package discipline

import (
	"sync"
	"sync/atomic"
	"time"
)

// Soft is the soft clock backend: it never touches the kernel clock and
// serves
//
//	served(r) = r + c(r),  c(r) = c0 + freqPPB·1e-9·(r − r0)
//
// where r is CLOCK_REALTIME. The correction c is piecewise linear: every
// frequency change re-anchors (r0, c0) at the moment of the change so served
// time stays continuous, and Step moves c0. Because kernel timestamps (PPS
// edges, socket receive times) go through the same mapping, the soft clock
// is exactly as good as the system clock would be, without CAP_SYS_TIME.
//
// Now and Map are lock-free (one atomic load) and allocation-free.
type Soft struct {
	mu     sync.Mutex // serialises writers
	params atomic.Pointer[softParams]
	// now reads CLOCK_REALTIME in ns; replaced in tests.
	now func() int64
}

type softParams struct {
	r0Ns    int64   // anchor, CLOCK_REALTIME ns
	c0Ns    int64   // correction at the anchor, ns
	freqPPB float64 // correction rate, ns per s of realtime
}

// NewSoft returns a soft clock with zero correction that reads
// CLOCK_REALTIME through now (nil: time.Now).
func NewSoft(now func() int64) *Soft {
	if now == nil {
		now = func() int64 { return time.Now().UnixNano() }
	}
	s := &Soft{now: now}
	s.params.Store(&softParams{r0Ns: now()})
	return s
}

// Map returns the served time for CLOCK_REALTIME timestamp realtimeNs.
func (s *Soft) Map(realtimeNs int64) int64 {
	p := s.params.Load()
	return realtimeNs + p.c0Ns + int64(p.freqPPB*float64(realtimeNs-p.r0Ns)*1e-9)
}

// Now returns the served time now.
func (s *Soft) Now() int64 { return s.Map(s.now()) }

// SetFrequency sets the correction rate in ppb (positive: the served clock
// runs faster than CLOCK_REALTIME), keeping served time continuous.
func (s *Soft) SetFrequency(freqPPB float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.now()
	c := s.Map(r) - r
	s.params.Store(&softParams{r0Ns: r, c0Ns: c, freqPPB: freqPPB})
}

// Step moves served time by deltaNs at once.
func (s *Soft) Step(deltaNs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := *s.params.Load()
	p.c0Ns += deltaNs
	s.params.Store(&p)
}

// CorrectionNs returns served minus CLOCK_REALTIME at realtimeNs, for status
// and tests.
func (s *Soft) CorrectionNs(realtimeNs int64) int64 { return s.Map(realtimeNs) - realtimeNs }

// FrequencyPPB returns the correction rate in force.
func (s *Soft) FrequencyPPB() float64 { return s.params.Load().freqPPB }
