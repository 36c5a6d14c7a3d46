package discipline

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

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
	// StepOutNs: after the first lock, a receiver time further from our
	// clock than the step threshold is followed only once it has held, at
	// the same offset, for this long (default 300 s, ntpd's stepout).
	StepOutNs int64
	// PanicNs: a receiver time further than this from our clock is never
	// followed after the first lock; it takes an operator (a restart)
	// (default 1000 s, ntpd's panic). Negative: no limit, as ntpd's
	// `tinker panic 0`.
	PanicNs int64
	// Upstreams: upstream NTP servers are configured (SetUpstream): they
	// check the receiver's time, and at start the receiver waits up to
	// UpstreamWaitNs (default 30 s) for their first estimate.
	Upstreams      bool
	UpstreamWaitNs int64
	// Fallback: with no trusted receiver time, serve the upstreams' time
	// at their stratum + 1 (`fallback on`).
	Fallback bool
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
	// ppsSilentNs: with PPS configured, no edge for this long (since
	// start, when none ever came) and no PPS holdover under way means the
	// engine serves NMEA time rather than nothing.
	ppsSilentNs = 10e9
	// nmeaPinnedMax NMEA updates in a row with the frequency correction at
	// its limit end NMEA synchronisation (a slew of a large phase error
	// reaches the limit for a few seconds; an oscillator beyond the range
	// stays there).
	nmeaPinnedMax = 30
)

// edgeRec is a recent edge: its CLOCK_REALTIME and its served time then.
type edgeRec struct {
	realNs, servedNs int64
}

// Engine pairs PPS edges with fixes, runs the servo, steers the clock and
// publishes the Reference. Its methods must be called from one goroutine
// (the daemon's discipline loop); Ref and Status are safe from any.
type Engine struct {
	cfg Config
	// servo is the servo steering now: ppsServo (PPS configured and edges
	// arriving) or nmeaServo (no PPS, or PPS silent). Each keeps its own
	// tuning and learned noise; a handover carries the frequency over.
	servo               *Servo
	ppsServo, nmeaServo *Servo
	// nmeaMode: steering from NMEA (always without PPS; with PPS
	// configured while it is silent).
	nmeaMode bool
	// stepNs is the step threshold (ServoConfig.StepThresholdNs);
	// stepOutNs, panicNs as Config, with defaults.
	stepNs             float64
	stepOutNs, panicNs int64

	state    State
	holdFrom State // the source held over from (PPS or GPS)
	// everLocked: the engine has claimed synchronisation once. From then
	// on the receiver's time is checked against our clock (jumpGuard).
	everLocked bool
	everSet    bool // the clock has been set from the receiver once
	coarse     bool // the clock has been set from the receiver (NMEA or PPS)
	edges      [4]edgeRec
	nEdges     int
	edgeCheck  *pps.Validator // every edge's period and sequence, for status
	started    bool
	startNs    int64 // CLOCK_REALTIME of the first input
	lastEdge   int64 // CLOCK_REALTIME of the last edge (valid if anyEdge)
	anyEdge    bool
	lastPair   int64 // CLOCK_REALTIME of the last paired edge (0: none)
	lastFix    int64 // CLOCK_REALTIME of the last fix whose time was used
	lastUpd    int64 // served time of the last servo update
	nmeaBad    int   // consecutive NMEA samples disagreeing by > nmeaFaultNs
	// nmeaPinned counts consecutive NMEA updates with the frequency
	// correction at the servo's limit.
	nmeaPinned int
	// burstDelayNs is the receiver's burst delay (first byte after the
	// edge) as measured by paired PPS edges, a running mean; NMEA-only
	// time uses it instead of Config.NMEADelayNs once known, so a PPS
	// that goes silent hands over to NMEA time without a jump.
	burstDelayNs float64
	burstKnown   bool
	// rxLeap is the receiver's latest leap second announcement.
	rxLeap gps.LeapNotice
	// PPS labelling.
	ppsSet                         bool // the clock has been set from a certain PPS label
	consistent                     int  // consecutive pairings that agree with each other
	mislabels                      int  // consecutive pairings further than coarseOKNs from the label
	prevLabel, prevEdge, prevDelay int64
	dispNs                         float64 // error bound at lastUpd
	jump                           jumpGuard
	events                         eventQueue
	cnt                            Counters
	fix                            gps.Fix
	nmeaSample, ppsSample          Sample // the last of each, for status
	ref                            atomic.Pointer[Reference]
	statusMu                       sync.Mutex
	status                         Status
	holdStart                      int64
	holdStartErr                   float64 // error bound (ns) when holdover began
	// Upstream servers (upstream.go): their latest estimate; upServo
	// steers from it in state Upstream; the receiver's veto.
	up      UpstreamEstimate
	upServo *Servo
	// upSteered: upServo has steered the clock since the receiver's
	// servo last did (takeOverFromUpstream).
	upSteered          bool
	upWaitNs           int64
	upEverOK, upSet    bool
	vetoed, gpsWaiting bool
	vetoAlarm          string
	agreeSince         int64
	// slews: the phase slewed since start (slew.go), for package upstream.
	slews slewLedger
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
	e := &Engine{cfg: cfg, stepOutNs: cfg.StepOutNs, panicNs: cfg.PanicNs, edgeCheck: pps.NewValidator(pps.ValidatorConfig{})}
	if e.stepOutNs <= 0 {
		e.stepOutNs = defaultStepOutNs
	}
	if e.panicNs == 0 {
		e.panicNs = defaultPanicNs
	}
	e.stepNs = cfg.Servo.withDefaults().StepThresholdNs
	// NMEA timing noise is milliseconds: never step under 50 ms, and
	// never believe a burst's arrival to better than 1 ms.
	sc := cfg.Servo
	sc.AcquireStepNs = 50e6
	sc.SlewTimeConstantS = 16
	sc.MinNoiseNs = math.Max(sc.MinNoiseNs, 1e6)
	// Without PPS edges no interval check assumes the kernel's ±500 ppm,
	// so the servo may use the whole range of the clocks (a virtual
	// machine's TSC calibrated under load can be off by more). Nothing
	// known of the frequency (no drift file) means anything in that
	// range: with a 50 ppm prior, ms-noisy samples take minutes to find a
	// 300 ppm error.
	if sc.MaxFreqPPB == 0 {
		sc.MaxFreqPPB = MaxClockFreqPPB
	}
	if sc.InitialFreqSigmaPPB == 0 {
		sc.InitialFreqSigmaPPB = 500e3
	}
	e.nmeaServo = NewServo(sc)
	e.upServo = NewServo(sc)
	e.upWaitNs = cfg.UpstreamWaitNs
	if e.upWaitNs <= 0 {
		e.upWaitNs = defaultUpstreamWaitNs
	}
	e.servo = e.nmeaServo
	e.nmeaMode = true
	if cfg.PPS {
		e.ppsServo = NewServo(cfg.Servo)
		e.servo = e.ppsServo
		e.nmeaMode = false
	}
	r, leap := e.publish(0)
	e.tellClock(0, r, leap)
	return e
}

// seen notes the first input's time: silence of the PPS counts from it.
func (e *Engine) seen(realNs int64) {
	if !e.started {
		e.started, e.startNs = true, realNs
	}
}

// Edge takes one PPS edge. Its served time is computed now, with the
// correction in force when it happened.
func (e *Engine) Edge(ed pps.Edge) {
	e.cnt.Edges++
	// Board latency calibration is applied by the source (pps.Compensated).
	r := ed.AssertNs
	e.seen(r)
	e.edgeCheck.Check(ed)
	e.lastEdge, e.anyEdge = r, true
	copy(e.edges[1:], e.edges[:len(e.edges)-1])
	e.edges[0] = edgeRec{realNs: r, servedNs: e.cfg.Clock.Map(r)}
	if e.nEdges < len(e.edges) {
		e.nEdges++
	}
}

// Fix takes one receiver epoch.
func (e *Engine) Fix(f gps.Fix) {
	e.cnt.Fixes++
	e.seen(f.ArrivalNs)
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
	labelNs := f.Time.UnixNano()
	e.nmeaSample = Sample{AtNs: f.ArrivalNs, OffsetNs: e.nmeaOffset(f, labelNs)}
	if e.vetoGPS(e.nmeaSample.OffsetNs, f.ArrivalNs) {
		e.snapshot(f.ArrivalNs)
		return
	}
	if e.cfg.PPS {
		e.ppsConfiguredFix(f, labelNs)
	} else {
		e.nmeaFix(f, labelNs)
	}
	e.snapshot(f.ArrivalNs)
}

// ppsSilent: PPS is configured and no edge has come for ppsSilentNs (since
// the first input when none ever came). A stamp more than that in the
// future is from before a backward step of CLOCK_REALTIME (System).
func (e *Engine) ppsSilent(realNs int64) bool {
	last := e.startNs
	if e.anyEdge {
		last = e.lastEdge
	}
	d := realNs - last
	return d > ppsSilentNs || d < -ppsSilentNs
}

// ppsConfiguredFix handles a trusted fix with PPS configured: steer from
// the edge it labels, or from NMEA while PPS is silent.
func (e *Engine) ppsConfiguredFix(f gps.Fix, labelNs int64) {
	m, ok := e.pair(f, labelNs)
	if !e.nmeaMode && e.ppsSilent(f.ArrivalNs) && !(e.state == Holdover && e.holdFrom == PPS) {
		e.toNMEA(f.ArrivalNs)
	}
	if e.nmeaMode {
		// Edges are back and pair consistently, and the receiver's time
		// agrees with our clock (or was never checked): PPS again.
		if ok && e.consistent >= 3 && !e.jump.active &&
			(!e.everLocked || math.Abs(e.nmeaOffset(f, labelNs)) <= e.window(f.ArrivalNs)) {
			e.toPPS(f.ArrivalNs)
		} else {
			e.nmeaFix(f, labelNs)
			return
		}
	}
	if ok {
		e.ppsFix(f, labelNs, m)
	}
}

// toNMEA makes NMEA the steering source while PPS is silent.
func (e *Engine) toNMEA(realNs int64) {
	e.nmeaMode = true
	e.servo = e.nmeaServo
	if e.ppsSet && e.ppsServo.everLocked {
		// The clock was PPS-disciplined: carry its frequency over, and let
		// NMEA slew the small difference rather than step it.
		e.nmeaServo.handover(e.ppsServo.HoldFrequencyPPB(), e.ppsServo.FreqSigmaPPB())
	} else {
		e.nmeaServo.Reset()
	}
	e.ppsSet = false
	e.consistent = 0
	e.nmeaBad, e.nmeaPinned = 0, 0
	e.event(Event{AtNs: realNs, Kind: EventAlarm, Raised: true, Reason: e.silentAlarm()})
}

// toPPS makes PPS the steering source again; the next certain pairing
// sets the clock (within the step threshold: slewed when we were locked).
func (e *Engine) toPPS(realNs int64) {
	e.event(Event{AtNs: realNs, Kind: EventAlarm, Reason: "PPS edges pair with UTC seconds again: " + e.silentAlarm()})
	e.nmeaMode = false
	e.servo = e.ppsServo
	if e.everLocked {
		e.ppsServo.handover(e.nmeaServo.HoldFrequencyPPB(), e.nmeaServo.FreqSigmaPPB())
	} else {
		e.ppsServo.Reset()
	}
	e.ppsSet = false
	e.mislabels = 0
}

// nmeaOffset is our served time minus the receiver's at the start of the
// second the fix names: the burst's arrival minus the receiver's delay
// (measured from PPS when it was, else configured).
func (e *Engine) nmeaOffset(f gps.Fix, labelNs int64) float64 {
	d := e.cfg.NMEADelayNs
	if e.burstKnown {
		d = int64(e.burstDelayNs)
	}
	return float64(e.cfg.Clock.Map(f.ArrivalNs-d) - labelNs)
}

// nmeaFix steers from NMEA alone: the burst's arrival minus the
// receiver's typical delay marks the start of the second.
func (e *Engine) nmeaFix(f gps.Fix, labelNs int64) {
	nmeaOff := e.nmeaOffset(f, labelNs)
	if e.guard(nmeaOff, f.ArrivalNs) {
		return
	}
	e.lastFix = f.ArrivalNs
	switch {
	case !e.coarse:
		// First trusted time: set the clock to it.
		if math.Abs(nmeaOff) > 1e6 {
			why := "first trusted NMEA time"
			if e.everSet {
				why = "clock set again from NMEA time"
			}
			e.step(-int64(nmeaOff), f.ArrivalNs, why)
		}
		e.coarse, e.everSet = true, true
		e.servo.Reset()
		return
	case !e.everLocked && math.Abs(nmeaOff) > nmeaFaultNs:
		// Our clock and NMEA disagree by about a second before we ever
		// locked: the receiver jumped while it was finding its time.
		// Three in a row and we start again from its time. (After the
		// first lock, guard decides.)
		e.nmeaBad++
		if e.nmeaBad >= 3 {
			e.coarse = false
			e.nmeaBad = 0
			e.setState(Unsynchronised, f.ArrivalNs, fmt.Sprintf("NMEA time %s off the clock 3 times before lock: setting the clock again", span(nmeaOff)))
		}
		return
	}
	e.nmeaBad = 0
	at := e.cfg.Clock.Map(f.ArrivalNs)
	e.takeOverFromUpstream()
	a := e.servo.Sample(nmeaOff, at, at)
	e.apply(a, f.ArrivalNs, "NMEA", nmeaOff)
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
			e.setState(Unsynchronised, f.ArrivalNs, fmt.Sprintf("the clock cannot follow NMEA time: frequency correction at its %.0f ppm limit for %d updates", e.servo.cfg.MaxFreqPPB/1e3, nmeaPinnedMax))
			return
		}
	} else {
		e.nmeaPinned = 0
	}
	e.lastUpd = at
	// NMEA timing: the receiver's delay is only known to a few ms.
	e.dispNs = 3*math.Max(e.servo.JitterNs(), e.servo.PhaseSigmaNs()) + 5e6 + e.servo.PhaseErrorNs()
	if a.Locked {
		e.setState(GPS, f.ArrivalNs, fmt.Sprintf("NMEA time locked (error bound %s)", span(e.dispNs)))
	}
}

// pair finds the edge that started this fix's second. The label is
// certain when exactly one edge precedes the burst within the pairing
// window; consistent counts pairings in a row that agree with each other
// (labels one second apart per second of edges, a stable burst delay).
func (e *Engine) pair(f gps.Fix, labelNs int64) (edgeRec, bool) {
	if labelNs%1e9 != 0 {
		// Not the epoch at a whole second (5 Hz receivers, or receivers
		// whose reports are not aligned to UTC): nothing to pair.
		return edgeRec{}, false
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
		if e.anyEdge || !e.nmeaMode {
			e.cnt.Unpaired++
		}
		e.consistent = 0
		return edgeRec{}, false
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
	return *match, true
}

// ppsFix steers from the edge m that pair labelled with this fix's
// second. The label is used once three consecutive pairings agree and,
// once the clock has been set from PPS, the edge's served time is within
// 400 ms of the label (after the first lock: within the step threshold,
// or guard decides).
func (e *Engine) ppsFix(f gps.Fix, labelNs int64, m edgeRec) {
	off := float64(m.servedNs - labelNs)
	if e.ppsSet && math.Abs(off) > coarseOKNs {
		e.cnt.Mislabel++
	}
	if e.ppsSet && e.everLocked {
		if e.guard(off, f.ArrivalNs) {
			return
		}
	} else if e.ppsSet && math.Abs(off) > coarseOKNs {
		e.mislabels++
		if e.mislabels >= 3 {
			// Before the first lock: the receiver and our clock disagree
			// by seconds, steadily: start again, and let consistency
			// decide.
			e.ppsSet = false
			e.servo.Reset()
			e.setState(Unsynchronised, f.ArrivalNs, fmt.Sprintf("PPS labels %s off the clock 3 times before lock: labelling again", span(off)))
		}
		return
	}
	e.mislabels = 0
	if !e.ppsSet {
		if e.consistent < 3 {
			return
		}
		e.ppsSet, e.coarse, e.everSet = true, true, true
	}
	e.cnt.Paired++
	e.ppsSample = Sample{AtNs: m.realNs, OffsetNs: off}
	e.lastPair = m.realNs
	e.lastFix = f.ArrivalNs
	e.takeOverFromUpstream()
	a := e.servo.Sample(off, m.servedNs, e.cfg.Clock.Map(f.ArrivalNs))
	e.apply(a, f.ArrivalNs, "PPS-labelled", off)
	if !a.Accepted {
		e.cnt.Outliers++
	} else {
		// The burst delay, for NMEA time should PPS go silent.
		d := float64(f.ArrivalNs - m.realNs)
		if !e.burstKnown {
			e.burstDelayNs, e.burstKnown = d, true
		} else {
			e.burstDelayNs += (d - e.burstDelayNs) / 16
		}
	}
	e.lastUpd = m.servedNs
	// What we can claim at the reference time: the phase error still being
	// slewed away, the filter's 3σ uncertainty about it, and the clock's
	// read precision.
	e.dispNs = e.servo.PhaseErrorNs() + 3*math.Max(e.servo.PhaseSigmaNs(), e.servo.JitterNs()) + math.Ldexp(1e9, int(e.cfg.Precision))
	if a.Locked {
		e.setState(PPS, f.ArrivalNs, fmt.Sprintf("PPS locked to UTC seconds (error bound %s)", span(e.dispNs)))
	}
}

// apply steers the clock as the servo asks; src ("PPS", "NMEA") and the
// sample's offset say why a step was needed.
func (e *Engine) apply(a Action, realNs int64, src string, offNs float64) {
	if a.StepNs != 0 {
		why := fmt.Sprintf("first %s time: the clock was %s", src, clockWas(offNs))
		if e.everLocked {
			why = fmt.Sprintf("%s time: the clock was %s, past the %s step threshold", src, clockWas(offNs), span(e.stepNs))
		}
		e.step(a.StepNs, realNs, why)
	}
	e.cfg.Clock.SetFrequency(a.FreqPPB)
	e.slews.setRate(e.cfg.Clock.Now(), a.SlewPPB)
}

// clockWas words an offset (served minus reference time): "2.5 s behind".
func clockWas(offNs float64) string {
	if offNs > 0 {
		return span(offNs) + " ahead"
	}
	return span(offNs) + " behind"
}

// step steps the clock by deltaNs at CLOCK_REALTIME realNs, and says so.
// The edges kept for pairing carry served times from before: dropped.
func (e *Engine) step(deltaNs, realNs int64, why string) {
	before := e.cfg.Clock.Map(realNs)
	e.cfg.Clock.Step(deltaNs)
	e.slews.stepped(deltaNs)
	e.up.OffsetNs += float64(deltaNs) // measured against the clock before
	e.cnt.Steps++
	e.nEdges = 0
	e.event(Event{AtNs: realNs, Kind: EventStep, BeforeNs: before, AfterNs: before + deltaNs, StepNs: deltaNs, Reason: why})
}

// Tick advances time-driven transitions (loss of PPS or GPS, holdover
// expiry). Call it about once a second with CLOCK_REALTIME.
func (e *Engine) Tick(realNs int64) {
	e.seen(realNs)
	e.upstreamTick(realNs)
	switch e.state {
	case PPS:
		if realNs-e.lastPair > ppsLostNs {
			why := fmt.Sprintf("no PPS edge paired with a UTC second for %s", span(ppsLostNs))
			if !e.anyEdge || realNs-e.lastEdge > ppsLostNs {
				why = fmt.Sprintf("no PPS edge for %s", span(ppsLostNs))
			}
			e.enterHoldover(realNs, why)
		}
	case GPS:
		if realNs-e.lastFix > gpsLostNs {
			e.enterHoldover(realNs, fmt.Sprintf("no trusted NMEA time for %s", span(gpsLostNs)))
		}
	case Holdover:
		tooLong := e.cfg.HoldoverMaxNs > 0 && realNs-e.holdStart > e.cfg.HoldoverMaxNs
		// The bound is maxerror, or twice the error at the start of the
		// holdover when that was already larger (NMEA-only time is good to
		// milliseconds: it may hold over, but not claim what it never had).
		limit := math.Max(float64(e.cfg.MaxErrorNs), 2*e.holdStartErr)
		ended := ""
		switch {
		case tooLong:
			ended = fmt.Sprintf("holdover time limit %s reached", span(float64(e.cfg.HoldoverMaxNs)))
		case e.errorAt(e.cfg.Clock.Map(realNs)) > limit:
			ended = fmt.Sprintf("holdover error bound %s exceeded", span(limit))
		}
		if ended != "" {
			if e.cfg.Fallback && e.upstreamFresh(realNs) {
				// Never stratum 16 while good upstreams answer.
				e.upstreamSample(realNs)
			} else {
				e.servo.Reset()
				e.setState(Unsynchronised, realNs, ended)
			}
		}
	}
	e.snapshot(realNs)
}

// enterHoldover keeps the frequency estimate and drops the phase slew,
// which would otherwise be a frequency error for the whole holdover.
func (e *Engine) enterHoldover(realNs int64, why string) {
	e.holdStart = realNs
	e.holdStartErr = e.errorAt(e.cfg.Clock.Map(realNs))
	e.holdFrom = e.state
	e.cfg.Clock.SetFrequency(e.servo.Hold())
	e.slews.setRate(e.cfg.Clock.Now(), 0)
	e.setState(Holdover, realNs, why)
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

// setState changes state and says why (an Event).
func (e *Engine) setState(s State, realNs int64, why string) {
	if s == e.state {
		return
	}
	e.event(Event{AtNs: realNs, Kind: EventState, From: e.state, To: s, Reason: why})
	e.state = s
	if s == PPS || s == GPS {
		e.everLocked = true
	}
	r, leap := e.publish(realNs)
	e.tellClock(realNs, r, leap)
}
