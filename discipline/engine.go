package discipline

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/pps"
)

// Config configures an Engine. Zero durations and thresholds mean defaults.
type Config struct {
	// Clock is the backend steered and read. Required.
	Clock Clock
	// PPS: a PPS source is configured. Then the clock claims
	// synchronisation only once PPS edges are locked to validated UTC
	// seconds; without PPS it serves NMEA time (refid GPS).
	PPS bool
	// NMEADelayNs is the receiver's typical delay from the start of the UTC
	// second to the first byte of its NMEA burst (board.Receiver), used for
	// NMEA-only offset estimates.
	NMEADelayNs int64
	// MaxErrorNs: holdover ends (unsynchronised) once the advertised error
	// passes this (default 1 ms, well under the pool's 25 ms).
	MaxErrorNs int64
	// WanderPPB is the frequency wander the oscillator is assumed capable
	// of in holdover, on top of the servo's own frequency uncertainty
	// (default 50 ppb: a Pi's crystal in a stable room).
	WanderPPB float64
	// Servo tunes the PPS servo.
	Servo ServoConfig
	// Precision is log2 s of the clock's read precision (default -24).
	Precision int8
	// Leaps is the leap second table (leapfile); nil: no announcements.
	Leaps *LeapTable
	// HoldoverMaxNs ends holdover after this long even if the error bound
	// allows more (`holdover DURATION`); 0: only the error bound counts.
	HoldoverMaxNs int64
}

// Pairing window: the first byte of an epoch's NMEA burst must arrive
// between these bounds after the PPS edge that starts its second, and no
// other edge may fall in the second before the burst. Receivers put the
// burst 50–900 ms after the edge; an edge within 20 ms of the burst cannot
// be the one it names.
const (
	pairMinNs = 20e6
	pairMaxNs = 980e6
	// coarseOKNs: once coarse-synchronised, an edge's served time must be
	// within this of the label; otherwise labelling is not certain.
	coarseOKNs = 400e6
	// ppsLostNs: no paired edge for this long means PPS is lost.
	ppsLostNs = 5e9
	// gpsLostNs: no trusted fix for this long means GPS is lost.
	gpsLostNs = 10e9
	// nmeaFaultNs: NMEA time further than this from our clock is a fault
	// (a receiver's burst delay is never near a second).
	nmeaFaultNs = 600e6
	// nmeaPinnedMax NMEA updates in a row with the frequency correction at
	// its limit end NMEA synchronisation (a slew of a large phase error
	// reaches the limit for a few seconds; an oscillator beyond the range
	// stays there).
	nmeaPinnedMax = 30
)

// Counters are the engine's event counts (monotonic).
type Counters struct {
	Edges, Fixes, FixesUntrusted uint64
	Paired, Unpaired, Mislabel   uint64
	Outliers, Steps              uint64
}

// Status is a snapshot for status lines and screens.
type Status struct {
	Ref       Reference
	Counters  Counters
	LastFix   gps.Fix
	HoldoverS float64
}

// edgeRec is a recent edge: its CLOCK_REALTIME and its served time then.
type edgeRec struct {
	realNs, servedNs int64
}

// Engine pairs PPS edges with fixes, runs the servo, steers the clock and
// publishes the Reference. Its methods must be called from one goroutine
// (the daemon's discipline loop); Ref and Status are safe from any.
type Engine struct {
	cfg   Config
	servo *Servo // PPS servo, or NMEA servo when PPS is not configured

	state    State
	coarse   bool // NMEA-only: the clock has been set from NMEA
	edges    [4]edgeRec
	nEdges   int
	lastPair int64 // CLOCK_REALTIME of the last paired edge (0: none)
	lastFix  int64 // CLOCK_REALTIME of the last trusted fix
	lastUpd  int64 // served time of the last servo update
	nmeaBad  int   // consecutive NMEA samples disagreeing by > nmeaFaultNs
	// nmeaPinned counts consecutive NMEA updates with the frequency
	// correction at the servo's limit.
	nmeaPinned int
	// rxLeap is the receiver's latest leap second announcement.
	rxLeap gps.LeapNotice
	// PPS labelling.
	ppsSet                         bool // the clock has been set from a certain PPS label
	consistent                     int  // consecutive pairings that agree with each other
	mislabels                      int  // consecutive pairings further than coarseOKNs from the label
	prevLabel, prevEdge, prevDelay int64
	dispNs                         float64 // error bound at lastUpd
	cnt                            Counters
	fix                            gps.Fix
	ref                            atomic.Pointer[Reference]
	statusMu                       sync.Mutex
	status                         Status
	holdStart                      int64
	holdStartErr                   float64 // error bound (ns) when holdover began
}

// NewEngine returns an engine in state Unsynchronised, with its Reference
// published.
func NewEngine(cfg Config) *Engine {
	if cfg.MaxErrorNs == 0 {
		cfg.MaxErrorNs = 1e6
	}
	if cfg.WanderPPB == 0 {
		cfg.WanderPPB = 50
	}
	if cfg.Precision == 0 {
		cfg.Precision = -24
	}
	e := &Engine{cfg: cfg, servo: NewServo(cfg.Servo)}
	if !cfg.PPS {
		// NMEA timing noise is milliseconds: never step under 50 ms, and
		// never believe a burst's arrival to better than 1 ms.
		sc := cfg.Servo
		sc.AcquireStepNs = 50e6
		sc.SlewTimeConstantS = 16
		sc.MinNoiseNs = math.Max(sc.MinNoiseNs, 1e6)
		// Without PPS edges no interval check assumes the kernel's
		// ±500 ppm, so the servo may use the whole range of the clocks
		// (a virtual machine's TSC calibrated under load can be off by
		// more). Nothing known of the frequency (no drift file) means
		// anything in that range: with a 50 ppm prior, ms-noisy samples
		// take minutes to find a 300 ppm error.
		if sc.MaxFreqPPB == 0 {
			sc.MaxFreqPPB = MaxClockFreqPPB
		}
		if sc.InitialFreqSigmaPPB == 0 {
			sc.InitialFreqSigmaPPB = 500e3
		}
		e.servo = NewServo(sc)
	}
	e.publish(0)
	return e
}

// Ref is the published snapshot pointer, for the server.
func (e *Engine) Ref() *atomic.Pointer[Reference] { return &e.ref }

// Status returns a consistent snapshot for status output.
func (e *Engine) Status() Status {
	e.statusMu.Lock()
	defer e.statusMu.Unlock()
	return e.status
}

// Edge takes one PPS edge. Its served time is computed now, with the
// correction in force when it happened.
func (e *Engine) Edge(ed pps.Edge) {
	e.cnt.Edges++
	// Board latency calibration is applied by the source (pps.Compensated).
	r := ed.AssertNs
	copy(e.edges[1:], e.edges[:len(e.edges)-1])
	e.edges[0] = edgeRec{realNs: r, servedNs: e.cfg.Clock.Map(r)}
	if e.nEdges < len(e.edges) {
		e.nEdges++
	}
}

// Fix takes one receiver epoch.
func (e *Engine) Fix(f gps.Fix) {
	e.cnt.Fixes++
	if f.Leap.Known {
		e.rxLeap = f.Leap
	}
	if !f.TimeValid || f.Mode < gps.Mode2D || f.LeapSecond {
		e.cnt.FixesUntrusted++
		e.fix = f
		e.snapshot(f.ArrivalNs)
		return
	}
	e.fix = f
	e.lastFix = f.ArrivalNs
	labelNs := f.Time.UnixNano()
	if e.cfg.PPS {
		e.ppsFix(f, labelNs)
	} else {
		e.nmeaFix(f, labelNs)
	}
	e.snapshot(f.ArrivalNs)
}

// nmeaFix steers from NMEA alone (no PPS configured): the burst's arrival
// minus the receiver's typical delay marks the start of the second.
func (e *Engine) nmeaFix(f gps.Fix, labelNs int64) {
	nmeaOff := float64(e.cfg.Clock.Map(f.ArrivalNs-e.cfg.NMEADelayNs) - labelNs)
	switch {
	case !e.coarse:
		// First trusted time: set the clock to it.
		if math.Abs(nmeaOff) > 1e6 {
			e.cfg.Clock.Step(-int64(nmeaOff))
			e.cnt.Steps++
		}
		e.coarse = true
		e.servo.Reset()
		return
	case math.Abs(nmeaOff) > nmeaFaultNs:
		// Our clock and NMEA disagree by about a second: the receiver
		// jumped. Three in a row and we start again from its time.
		e.nmeaBad++
		if e.nmeaBad >= 3 {
			e.coarse = false
			e.nmeaBad = 0
			e.setState(Unsynchronised, f.ArrivalNs)
		}
		return
	}
	e.nmeaBad = 0
	at := e.cfg.Clock.Map(f.ArrivalNs)
	a := e.servo.Sample(nmeaOff, at, at)
	e.apply(a)
	if math.Abs(a.FreqPPB) >= e.servo.cfg.MaxFreqPPB {
		// The correction is at the end of the clock's range: the clock
		// cannot follow and the error grows whatever the filter says (the
		// root dispersion grows with it, PhaseErrorNs). After
		// nmeaPinnedMax such updates in a row, stop claiming
		// synchronisation and start again from the receiver's time.
		e.nmeaPinned++
		if e.nmeaPinned >= nmeaPinnedMax {
			e.nmeaPinned = 0
			e.coarse = false
			e.setState(Unsynchronised, f.ArrivalNs)
			return
		}
	} else {
		e.nmeaPinned = 0
	}
	e.lastUpd = at
	// NMEA timing: the receiver's delay is only known to a few ms.
	e.dispNs = 3*math.Max(e.servo.JitterNs(), e.servo.PhaseSigmaNs()) + 5e6 + e.servo.PhaseErrorNs()
	if a.Locked {
		e.setState(GPS, f.ArrivalNs)
	}
}

// ppsFix labels the edge that started this fix's second and feeds the
// servo. The label is certain when exactly one edge precedes the burst
// within the pairing window, three consecutive pairings agree (labels one
// second apart per second of edges, a stable burst delay), and, once the
// clock has been set from PPS, the edge's served time is within 400 ms of
// the label.
func (e *Engine) ppsFix(f gps.Fix, labelNs int64) {
	if labelNs%1e9 != 0 {
		// Not the epoch at a whole second (5 Hz receivers, or receivers
		// whose reports are not aligned to UTC): nothing to pair.
		return
	}
	var match *edgeRec
	n := 0
	for i := 0; i < e.nEdges; i++ {
		d := f.ArrivalNs - e.edges[i].realNs
		if d > 0 && d < 1_020_000_000 {
			n++
			if d >= pairMinNs && d <= pairMaxNs {
				match = &e.edges[i]
			}
		}
	}
	if match == nil || n != 1 {
		e.cnt.Unpaired++
		e.consistent = 0
		return
	}
	delay := f.ArrivalNs - match.realNs
	if e.consistent > 0 {
		dl := labelNs - e.prevLabel
		de := match.realNs - e.prevEdge
		// Edges and labels must advance together (to 1 ms: the host clock
		// is within 500 ppm of right), with a stable burst delay.
		if math.Abs(float64(de-dl)) < 1e6+float64(dl)*5e-4 && math.Abs(float64(delay-e.prevDelay)) < 50e6 {
			e.consistent++
		} else {
			e.consistent = 1
		}
	} else {
		e.consistent = 1
	}
	e.prevLabel, e.prevEdge, e.prevDelay = labelNs, match.realNs, delay

	off := float64(match.servedNs - labelNs)
	if e.ppsSet && math.Abs(off) > coarseOKNs {
		e.cnt.Mislabel++
		e.mislabels++
		if e.mislabels >= 3 {
			// The receiver and our clock disagree by seconds, steadily:
			// start again, and let consistency decide.
			e.ppsSet = false
			e.servo.Reset()
			e.setState(Unsynchronised, f.ArrivalNs)
		}
		return
	}
	e.mislabels = 0
	if !e.ppsSet {
		if e.consistent < 3 {
			return
		}
		e.ppsSet = true
	}
	e.cnt.Paired++
	e.lastPair = match.realNs
	a := e.servo.Sample(off, match.servedNs, e.cfg.Clock.Map(f.ArrivalNs))
	e.apply(a)
	if !a.Accepted {
		e.cnt.Outliers++
	}
	e.lastUpd = match.servedNs
	// What we can claim at the reference time: the phase error still being
	// slewed away, the filter's 3σ uncertainty about it, and the clock's
	// read precision.
	e.dispNs = e.servo.PhaseErrorNs() + 3*math.Max(e.servo.PhaseSigmaNs(), e.servo.JitterNs()) + math.Ldexp(1e9, int(e.cfg.Precision))
	if a.Locked {
		e.setState(PPS, f.ArrivalNs)
	}
}

func (e *Engine) apply(a Action) {
	if a.StepNs != 0 {
		e.cfg.Clock.Step(a.StepNs)
		e.cnt.Steps++
		e.nEdges = 0
	}
	e.cfg.Clock.SetFrequency(a.FreqPPB)
}

// Tick advances time-driven transitions (loss of PPS or GPS, holdover
// expiry). Call it about once a second with CLOCK_REALTIME.
func (e *Engine) Tick(realNs int64) {
	switch e.state {
	case PPS:
		if realNs-e.lastPair > ppsLostNs {
			e.enterHoldover(realNs)
		}
	case GPS:
		if realNs-e.lastFix > gpsLostNs {
			e.enterHoldover(realNs)
		}
	case Holdover:
		tooLong := e.cfg.HoldoverMaxNs > 0 && realNs-e.holdStart > e.cfg.HoldoverMaxNs
		// The bound is maxerror, or twice the error at the start of the
		// holdover when that was already larger (NMEA-only time is good to
		// milliseconds: it may hold over, but not claim what it never had).
		limit := math.Max(float64(e.cfg.MaxErrorNs), 2*e.holdStartErr)
		if tooLong || e.errorAt(e.cfg.Clock.Map(realNs)) > limit {
			e.servo.Reset()
			e.setState(Unsynchronised, realNs)
		}
	}
	e.snapshot(realNs)
}

// enterHoldover keeps the frequency estimate and drops the phase slew,
// which would otherwise be a frequency error for the whole holdover.
func (e *Engine) enterHoldover(realNs int64) {
	e.holdStart = realNs
	e.holdStartErr = e.errorAt(e.cfg.Clock.Map(realNs))
	e.cfg.Clock.SetFrequency(e.servo.Hold())
	e.setState(Holdover, realNs)
}

// rateNsPerS is how fast the error bound grows without updates: the
// servo's 3σ frequency uncertainty plus the assumed oscillator wander.
func (e *Engine) rateNsPerS() float64 {
	return 3*e.servo.FreqSigmaPPB() + e.cfg.WanderPPB
}

func (e *Engine) errorAt(servedNs int64) float64 {
	el := float64(servedNs-e.lastUpd) * 1e-9
	if el < 0 {
		el = 0
	}
	return e.dispNs + e.rateNsPerS()*el
}

func (e *Engine) setState(s State, realNs int64) {
	if s == e.state {
		return
	}
	e.state = s
	e.publish(realNs)
}

func (e *Engine) publish(realNs int64) {
	r := &Reference{State: e.state, Precision: e.cfg.Precision, UpdatedAt: time.Unix(0, realNs)}
	switch e.state {
	case PPS, GPS, Holdover:
		r.Synchronised = true
		r.Stratum = 1
		r.Leap = LeapNone
		if e.state == GPS || (e.state == Holdover && !e.cfg.PPS) {
			r.RefID = [4]byte{'G', 'P', 'S', 0}
		} else {
			r.RefID = [4]byte{'P', 'P', 'S', 0}
		}
		r.RefTimeNs = e.lastUpd
		r.RootDispersionNs = int64(e.dispNs)
		r.DispersionRateNsPerS = e.rateNsPerS()
		li, ev := e.leapAnnounce(e.cfg.Clock.Map(realNs))
		r.Leap = li
		if ls, ok := e.cfg.Clock.(leapScheduler); ok && li != LeapNone {
			ls.ScheduleLeap(ev)
		}
	default:
		r.Leap = LeapAlarm
	}
	r.OffsetNs = e.servo.LastOffsetNs()
	r.JitterNs = e.servo.JitterNs()
	r.FreqPPB = e.servo.FreqPPB()
	r.FreqEstPPB = e.servo.HoldFrequencyPPB()
	e.ref.Store(r)
	if sr, ok := e.cfg.Clock.(syncReporter); ok {
		est := int64(math.Abs(r.OffsetNs) + r.JitterNs)
		maxErr := int64(16e9)
		if r.Synchronised {
			maxErr = r.RootDispersionAt(e.cfg.Clock.Map(realNs))
		}
		sr.ReportSync(r.Synchronised, maxErr, est)
	}
}

// leapAnnounce is the leap indicator to serve at UTC time nowNs and the
// event it announces. The leap table (leapfile) is the IERS's word: while
// it is within its expiry date, what it lists (or does not) is final.
// Without a current table the receiver's announcement counts
// (gps.LeapNotice, from UBX-NAV-TIMELS), if it names the end of a month,
// as leap seconds only happen then (ITU-R TF.460-6: end of December or
// June first, then March or September).
func (e *Engine) leapAnnounce(nowNs int64) (uint8, LeapEvent) {
	if t := e.cfg.Leaps; t != nil {
		if li, ev := t.Announce(nowNs); li != LeapNone || t.current(nowNs) {
			return li, ev
		}
	}
	n := e.rxLeap
	if !n.Known || n.Change == 0 {
		return LeapNone, LeapEvent{}
	}
	if n.At.Day() != 1 || n.At.Hour() != 0 || n.At.Minute() != 0 || n.At.Second() != 0 || n.At.Nanosecond() != 0 {
		return LeapNone, LeapEvent{}
	}
	ev := LeapEvent{AtNs: n.At.UnixNano(), Insert: n.Change > 0}
	return announce(ev, nowNs), ev
}

// syncReporter is a clock that tells the rest of the system whether it is
// synchronised (System: the kernel's STA_UNSYNC, maxerror, esterror).
type syncReporter interface {
	ReportSync(synced bool, maxErrorNs, estErrorNs int64)
}

// snapshot republishes (dispersion and reference time move with every
// update) and refreshes the status copy.
func (e *Engine) snapshot(realNs int64) {
	e.publish(realNs)
	e.statusMu.Lock()
	e.status = Status{Ref: *e.ref.Load(), Counters: e.cnt, LastFix: e.fix}
	if e.state == Holdover {
		e.status.HoldoverS = float64(realNs-e.holdStart) * 1e-9
	}
	e.statusMu.Unlock()
}
