package discipline

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/pps"
)

// What the engine tells others: the Reference it publishes for the server,
// what it tells the clock backend, and the Status it keeps for the screens.

// Counters are the engine's event counts (monotonic).
type Counters struct {
	Edges, Fixes, FixesUntrusted uint64
	Paired, Unpaired, Mislabel   uint64
	Outliers, Steps              uint64
	// Distrusted counts receiver times not followed: samples further from
	// our clock than the step threshold after the first lock.
	Distrusted uint64
	// EventsDropped counts events lost because Events was not called
	// often enough.
	EventsDropped uint64
}

// Status is a snapshot for status lines and screens: what the engine
// measured and decided, so that no screen has to work it out again.
type Status struct {
	Ref       Reference
	Counters  Counters
	LastFix   gps.Fix
	HoldoverS float64
	// Alarms are the engine's current alarm conditions in words, e.g. a
	// receiver time jump it does not follow; empty when all is well.
	Alarms []string
	// NMEA is the last trusted fix's offset as the engine computed it (its
	// arrival less the receiver's burst delay, as measured from PPS or else
	// configured, against the time it names), whether or not it steered.
	NMEA Sample
	// PPS is the last paired edge's offset, the sample the PPS servo got
	// (one per Counters.Paired).
	PPS Sample
	// LastEdgeNs is CLOCK_REALTIME of the last PPS edge (0: none yet).
	LastEdgeNs int64
	// GPSCheck says whether the receiver's time is trusted against the
	// upstream servers ("" without any): trusted, waiting, vetoed, why.
	GPSCheck string
	// EdgeChecks counts the pps.Validator's verdicts on every edge (period
	// and sequence number against the edge before). Pairing does not use
	// them: drivers drop repeated sequence numbers, and a fix with more
	// than one edge in its second is not paired anyway.
	EdgeChecks pps.Counters
}

// Sample is one measurement of a source against the served clock.
type Sample struct {
	// AtNs is CLOCK_REALTIME of the measurement: the edge, or the fix's
	// arrival. 0: none yet. A new sample has a new AtNs.
	AtNs int64
	// OffsetNs is served time minus the source's time; positive: our clock
	// is ahead.
	OffsetNs float64
}

// Ref is the published snapshot pointer, for the server.
func (e *Engine) Ref() *atomic.Pointer[Reference] { return &e.ref }

// Status returns a consistent snapshot for status output.
func (e *Engine) Status() Status {
	e.statusMu.Lock()
	defer e.statusMu.Unlock()
	st := e.status
	st.Alarms = append([]string(nil), st.Alarms...)
	return st
}

// publish builds the Reference from the engine's state at CLOCK_REALTIME
// realNs and stores it for the server. It returns the snapshot and the leap
// second it announces (zero when none) and changes nothing outside the
// engine: tellClock passes them on to the clock backend.
func (e *Engine) publish(realNs int64) (*Reference, LeapEvent) {
	r := &Reference{State: e.state, Precision: e.cfg.Precision, UpdatedAt: time.Unix(0, realNs)}
	var leap LeapEvent
	switch e.state {
	case PPS, GPS, Holdover:
		r.Synchronised = true
		r.Stratum = 1
		if src := e.state; src == GPS || (src == Holdover && e.holdFrom == GPS) {
			r.RefID = [4]byte{'G', 'P', 'S', 0}
		} else {
			r.RefID = [4]byte{'P', 'P', 'S', 0}
		}
		r.RefTimeNs = e.lastUpd
		r.RootDispersionNs = int64(e.dispNs)
		r.DispersionRateNsPerS = e.rateNsPerS()
		r.Leap, leap = e.leapAnnounce(e.cfg.Clock.Map(realNs))
	case Upstream:
		r.Synchronised = true
		r.Stratum = e.up.Stratum
		r.RefID = e.up.RefID
		r.RefTimeNs = e.lastUpd
		r.RootDelayNs = int64(e.up.RootDelayNs)
		r.RootDispersionNs = int64(e.dispNs)
		r.DispersionRateNsPerS = phiNsPerS + e.rateNsPerS()
		r.Leap, leap = e.leapAnnounce(e.cfg.Clock.Map(realNs))
	default:
		r.Leap = LeapAlarm
	}
	r.OffsetNs = e.servo.LastOffsetNs()
	r.JitterNs = e.servo.JitterNs()
	r.FreqPPB = e.servo.FreqPPB()
	r.FreqEstPPB = e.servo.HoldFrequencyPPB()
	e.ref.Store(r)
	return r, leap
}

// tellClock passes what publish decided at CLOCK_REALTIME realNs on to the
// clock backend: the leap second r announces, to carry out at its midnight,
// and whether the clock is synchronised, with its error bounds (System: one
// or two clock_adjtime calls; Soft: the leap only).
func (e *Engine) tellClock(realNs int64, r *Reference, leap LeapEvent) {
	if r.Leap == LeapInsert || r.Leap == LeapDelete {
		e.cfg.Clock.ScheduleLeap(leap)
	}
	est := int64(math.Abs(r.OffsetNs) + r.JitterNs)
	maxErr := int64(16e9)
	if r.Synchronised {
		maxErr = r.RootDispersionAt(e.cfg.Clock.Map(realNs))
	}
	e.cfg.Clock.ReportSync(r.Synchronised, maxErr, est)
}

// leapAnnounce is the leap indicator to serve at UTC time nowNs and the
// event it announces. The leap table (leapfile) is the IERS's word: while
// it is within its expiry date, what it lists (or does not) is final.
// Without a current table the receiver's announcement counts
// (gps.LeapNotice, from UBX-NAV-TIMELS), if it names the end of a month,
// as leap seconds only happen then (ITU-R TF.460-6: end of December or
// June first, then March or September).
func (e *Engine) leapAnnounce(nowNs int64) (Leap, LeapEvent) {
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

// snapshot republishes (dispersion and reference time move with every
// update), tells the clock, and refreshes the status copy.
func (e *Engine) snapshot(realNs int64) {
	r, leap := e.publish(realNs)
	e.tellClock(realNs, r, leap)
	e.statusMu.Lock()
	e.status = Status{Ref: *r, Counters: e.cnt, LastFix: e.fix, Alarms: e.alarms(realNs, e.status.Alarms[:0]),
		NMEA: e.nmeaSample, PPS: e.ppsSample, EdgeChecks: e.edgeCheck.Counters(), GPSCheck: e.gpsCheck()}
	if e.anyEdge {
		e.status.LastEdgeNs = e.lastEdge
	}
	if e.state == Holdover {
		e.status.HoldoverS = float64(realNs-e.holdStart) * 1e-9
	}
	e.statusMu.Unlock()
}

// alarms appends the engine's current alarm conditions to dst.
func (e *Engine) alarms(realNs int64, dst []string) []string {
	if e.jump.active {
		dst = append(dst, e.jump.alarm)
	}
	if e.cfg.PPS && e.nmeaMode {
		dst = append(dst, e.silentAlarm())
	}
	if e.vetoed {
		dst = append(dst, e.vetoAlarm)
	}
	return dst
}

// gpsCheck says whether the receiver's time is trusted, for status:
// "trusted", "waiting for the upstream servers' first answer", "vetoed:
// …", or "" with no upstreams to check it.
func (e *Engine) gpsCheck() string {
	switch {
	case !e.cfg.Upstreams:
		return ""
	case e.vetoed:
		return "vetoed: " + e.vetoAlarm
	case e.gpsWaiting:
		return fmt.Sprintf("waiting up to %s for the upstream servers' first answer", span(float64(e.upWaitNs)))
	case !e.upEverOK:
		return "unchecked: no upstream server has answered"
	}
	return "trusted: agrees with the upstream servers"
}

// silentAlarm is the alarm while PPS is configured but silent.
func (e *Engine) silentAlarm() string {
	since := "start"
	if e.anyEdge {
		since = hhmm(e.cfg.Clock.Map(e.lastEdge))
	}
	return fmt.Sprintf("PPS configured but no pulse since %s: serving NMEA time (refid GPS, milliseconds)", since)
}
