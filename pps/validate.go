package pps

import (
	"fmt"
	"time"
)

// Class is what Validator.Check made of an edge.
type Class uint8

const (
	// First: no earlier edge to compare with (start, or after Reset).
	First Class = iota
	// OK: about one period after the previous edge, next sequence number.
	OK
	// Missing: a whole number (≥ 2) of periods after the previous edge, or
	// a sequence gap with the timing to match: pulses were lost. The edge
	// itself is good.
	Missing
	// PeriodOutOfRange: the interval fits no whole number of periods
	// (outlier, clock step, wrong receiver rate). The edge becomes the new
	// reference, so one bad edge costs two verdicts.
	PeriodOutOfRange
	// Double: closer than DoubleWindow to the previous edge, or the kernel
	// counted extra edges within one period: ringing, or both edges of the
	// pulse being captured (wrong polarity setting). The previous edge stays
	// the reference.
	Double
	// Duplicate: same sequence number as the previous edge.
	Duplicate
	// Backwards: earlier than the previous edge (the host clock was stepped
	// back). The edge becomes the new reference.
	Backwards
	numClasses
)

var classNames = [...]string{"first", "ok", "missing", "period-out-of-range", "double", "duplicate", "backwards"}

func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", c)
}

// ValidatorConfig sets the limits. Zero fields take the defaults.
type ValidatorConfig struct {
	// Period is the nominal interval between edges; default 1 s.
	Period time.Duration
	// Tolerance is how far an interval may be from a whole number of
	// periods; default 2 ms. It must cover the host clock's frequency error
	// (up to 500 ppm while the kernel slews = 0.5 ms/s) plus capture
	// latency noise (tens of µs for GPIO, up to ~1 ms for USB DCD).
	Tolerance time.Duration
	// DoubleWindow: an edge this soon after the previous one is a Double;
	// default 200 ms, beyond the 100 ms pulse width of common receivers,
	// so capturing both edges of a pulse is caught.
	DoubleWindow time.Duration
	// MaxGap: beyond this many periods a time gap is not counted as
	// missing pulses but treated as a restart (First); default 3600.
	MaxGap int64
}

// Verdict is the result for one edge.
type Verdict struct {
	Class Class
	// IntervalNs is AssertNs minus the reference edge's AssertNs (0 for First).
	IntervalNs int64
	// Missed is the number of pulses lost before this edge (Missing only).
	Missed int64
}

// Counters are totals since the Validator was made.
type Counters struct {
	ByClass      [numClasses]uint64
	MissedPulses uint64
}

// Count returns the number of edges classified as c.
func (c Counters) Count(cl Class) uint64 { return c.ByClass[cl] }

// Bad returns the number of edges that fit no clean period: out of range,
// double, duplicate or backwards. (A Missing edge is a good edge after lost
// pulses: MissedPulses counts those.)
func (c Counters) Bad() uint64 {
	return c.ByClass[PeriodOutOfRange] + c.ByClass[Double] + c.ByClass[Duplicate] + c.ByClass[Backwards]
}

// Validator classifies a stream of edges from one source by period and
// sequence number. It is pure: time comes only from the edges. Not safe for
// concurrent use.
type Validator struct {
	cfg      ValidatorConfig
	ref      Edge
	haveRef  bool
	counters Counters
}

// NewValidator returns a Validator with cfg's zero fields defaulted.
func NewValidator(cfg ValidatorConfig) *Validator {
	if cfg.Period <= 0 {
		cfg.Period = time.Second
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 2 * time.Millisecond
	}
	if cfg.DoubleWindow <= 0 {
		cfg.DoubleWindow = 200 * time.Millisecond
	}
	if cfg.MaxGap <= 0 {
		cfg.MaxGap = 3600
	}
	return &Validator{cfg: cfg}
}

// Reset forgets the reference edge, for example after the clock backend
// stepped the host clock.
func (v *Validator) Reset() { v.haveRef = false }

// Counters returns the totals so far.
func (v *Validator) Counters() Counters { return v.counters }

// Check classifies e against the previous edge and counts it.
func (v *Validator) Check(e Edge) Verdict {
	vd := v.classify(e)
	v.counters.ByClass[vd.Class]++
	v.counters.MissedPulses += uint64(vd.Missed)
	return vd
}

func (v *Validator) classify(e Edge) Verdict {
	if !v.haveRef {
		v.ref, v.haveRef = e, true
		return Verdict{Class: First}
	}
	dt := e.AssertNs - v.ref.AssertNs
	dseq := e.Seq - v.ref.Seq // uint32: wraps correctly
	period, tol := int64(v.cfg.Period), int64(v.cfg.Tolerance)
	vd := Verdict{IntervalNs: dt}
	switch {
	case dseq == 0:
		vd.Class = Duplicate
		return vd
	case dt < 0:
		vd.Class = Backwards
		v.ref = e
		return vd
	case dt < int64(v.cfg.DoubleWindow):
		// Keep the earlier edge's time (ringing follows the real edge) but
		// take the sequence number, so the next edge is not a gap.
		vd.Class = Double
		v.ref.Seq = e.Seq
		return vd
	}
	n := (dt + period/2) / period // nearest whole number of periods
	if n > v.cfg.MaxGap {
		v.ref = e
		return Verdict{Class: First}
	}
	v.ref = e
	if n < 1 || abs64(dt-n*period) > tol*n {
		vd.Class = PeriodOutOfRange
		return vd
	}
	switch {
	case n == 1 && dseq == 1:
		vd.Class = OK
	case n == 1:
		// One period, but the source counted more edges: extra edges the
		// reader never saw.
		vd.Class = Double
	default:
		vd.Class, vd.Missed = Missing, n-1
	}
	return vd
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
