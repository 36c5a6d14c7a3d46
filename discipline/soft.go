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
	// leapScheduled is the AtNs of the last leap event scheduled, so the
	// announcement that goes on until the event (and, in served time, for
	// the repeated second after it) cannot schedule it twice.
	leapScheduled int64
}

type softParams struct {
	r0Ns    int64   // anchor, CLOCK_REALTIME ns
	c0Ns    int64   // correction at the anchor, ns
	freqPPB float64 // correction rate, ns per s of realtime
	// A scheduled leap second: once the continuous served time reaches
	// leapFromNs, leapDeltaNs is added (−1 s for an insertion, so the
	// second 23:59:59 is served twice, as the kernel does; +1 s for a
	// deletion, skipping 23:59:59). 0: none.
	leapFromNs, leapDeltaNs int64
}

// continuous is served time without a pending leap.
func (p *softParams) continuous(realtimeNs int64) int64 {
	return realtimeNs + p.c0Ns + int64(p.freqPPB*float64(realtimeNs-p.r0Ns)*1e-9)
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
	v := p.continuous(realtimeNs)
	if p.leapDeltaNs != 0 && v >= p.leapFromNs {
		v += p.leapDeltaNs
	}
	return v
}

// settled returns the parameters in force with a leap that has happened
// by realtime r folded into the correction, for writers to build on.
func (s *Soft) settled(r int64) softParams {
	p := *s.params.Load()
	if p.leapDeltaNs != 0 && p.continuous(r) >= p.leapFromNs {
		c := p.continuous(r) - r + p.leapDeltaNs
		p = softParams{r0Ns: r, c0Ns: c, freqPPB: p.freqPPB}
	}
	return p
}

// ScheduleLeap makes the clock insert (or delete) the leap second that ends
// just before e.AtNs, a UTC midnight. Scheduling the same event again is a
// no-op.
func (s *Soft) ScheduleLeap(e LeapEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.AtNs == s.leapScheduled {
		return
	}
	p := s.settled(s.now())
	from, delta := e.AtNs, int64(-1e9)
	if !e.Insert {
		from, delta = e.AtNs-1e9, 1e9
	}
	if p.continuous(s.now()) >= from {
		return // already past it
	}
	p.leapFromNs, p.leapDeltaNs = from, delta
	s.leapScheduled = e.AtNs
	s.params.Store(&p)
}

// Now returns the served time now.
func (s *Soft) Now() int64 { return s.Map(s.now()) }

// SetFrequency sets the correction rate in ppb (positive: the served clock
// runs faster than CLOCK_REALTIME), keeping served time continuous.
func (s *Soft) SetFrequency(freqPPB float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.now()
	p := s.settled(r)
	c := p.continuous(r) - r
	s.params.Store(&softParams{r0Ns: r, c0Ns: c, freqPPB: freqPPB, leapFromNs: p.leapFromNs, leapDeltaNs: p.leapDeltaNs})
}

// Step moves served time by deltaNs at once.
func (s *Soft) Step(deltaNs int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.settled(s.now())
	p.c0Ns += deltaNs
	s.params.Store(&p)
}

// ReportSync does nothing: the soft clock's time is served only by our
// server, which reads the Reference; there is no kernel to tell.
func (s *Soft) ReportSync(synced bool, maxErrorNs, estErrorNs int64) {}

// Failures is always (0, nil): the soft clock's changes cannot be refused.
func (s *Soft) Failures() (uint64, error) { return 0, nil }

// CorrectionNs returns served minus CLOCK_REALTIME at realtimeNs, for status
// and tests.
func (s *Soft) CorrectionNs(realtimeNs int64) int64 { return s.Map(realtimeNs) - realtimeNs }

// FrequencyPPB returns the correction rate in force.
func (s *Soft) FrequencyPPB() float64 { return s.params.Load().freqPPB }
