package discipline

import (
	"fmt"
	"math"
	"time"
)

// Upstream NTP servers (`server`, `pool`) check the receiver and stand in
// for it (issue 13). GPS/PPS stays the reference whenever it is trusted;
// the upstreams give:
//   - time at boot: a clock never set (a Pi without an RTC starts in 1970)
//     is stepped once to their time;
//   - a veto: a receiver time outside what enough upstreams agree on, by
//     more than the error bounds and at least vetoMinNs, is not followed
//     (a week-rollover bug, a spoofer, a wrong leap second), and while
//     upstreams are configured but have not answered yet GPS waits, up to
//     Config.UpstreamWaitNs;
//   - a fallback: with the receiver gone past holdover, or vetoed, the
//     clock is steered from them and served at their stratum + 1.

// UpstreamEstimate is what the upstream servers say of our clock, as the daemon
// passes it on from package upstream's Estimate.
type UpstreamEstimate struct {
	// OK: at least minsane truechimers agree.
	OK bool
	// OffsetNs is our served time minus theirs (positive: our clock is
	// ahead), at AtNs; ErrorNs bounds it (the truechimers' intersection
	// and their root distance).
	OffsetNs, ErrorNs float64
	// AtNs is CLOCK_REALTIME of the estimate (a new estimate, a new AtNs).
	AtNs int64
	// Stratum is theirs + 1; RefID the system peer's address.
	Stratum uint8
	RefID   [4]byte
	// RootDelayNs and RootDispersionNs are what to advertise, theirs plus
	// the paths to them.
	RootDelayNs, RootDispersionNs float64
	// Truechimers is how many agree; Sources names them, for alarms.
	Truechimers int
	Sources     string
	// Silent: none has answered, and none will soon (names that do not
	// resolve, first requests unanswered): the receiver need not wait.
	Silent bool
}

const (
	// vetoMinNs: a receiver time closer than this to the upstreams' is
	// never vetoed (issue 13: "at least 128 ms"), whatever the bounds.
	vetoMinNs = 128e6
	// vetoSlackNs: the receiver time's own uncertainty in the comparison
	// (an NMEA burst's delay is known to milliseconds).
	vetoSlackNs = 20e6
	// vetoHoldoffNs: a vetoed receiver must agree again for this long
	// before it is trusted.
	vetoHoldoffNs = 60e9
	// upstreamStaleNs: an estimate older than this (two maxpoll 10
	// intervals) no longer counts.
	upstreamStaleNs = 2100e9
	// defaultUpstreamWaitNs: how long GPS waits at start for the first
	// upstream estimate before it is trusted on its own.
	defaultUpstreamWaitNs = 30e9
	// phiNsPerS: RFC 5905's PHI, 15 ppm, the dispersion rate of a time
	// learnt over the network.
	phiNsPerS = 15e3
)

// SetUpstream takes the upstreams' latest estimate; call it when it
// changes (a new AtNs), from the discipline loop.
func (e *Engine) SetUpstream(u UpstreamEstimate) {
	realNs := u.AtNs
	e.seen(realNs)
	e.up = u
	if !u.OK {
		e.snapshot(realNs)
		return
	}
	e.upEverOK = true
	// Time at boot: the clock was never set, from the receiver or them.
	if !e.everSet && !e.upSet && math.Abs(u.OffsetNs) > e.stepNs {
		// step shifts e.up.OffsetNs with the clock: about 0 after this.
		e.step(-int64(math.Round(u.OffsetNs)), realNs, fmt.Sprintf("clock set from %d upstream servers (%s)", u.Truechimers, u.Sources))
	}
	e.upSet = true
	// Steer from them while no receiver time is used: unsynchronised, or
	// already serving theirs and the receiver not back (vetoed, silent).
	receiverBack := !e.vetoed && e.lastFix != 0 && realNs-e.lastFix < gpsLostNs
	if e.cfg.Fallback && (e.state == Unsynchronised || e.state == Upstream) && !receiverBack {
		e.upstreamSample(realNs)
	}
	e.snapshot(realNs)
}

// upstreamSample steers the clock from the upstreams' estimate and serves
// their time (state Upstream).
func (e *Engine) upstreamSample(realNs int64) {
	if e.state != Upstream {
		// Carry the frequency over from the servo that steered last.
		e.upServo.handover(e.servo.HoldFrequencyPPB(), math.Max(e.servo.FreqSigmaPPB(), 10e3))
	}
	at := e.cfg.Clock.Map(realNs)
	a := e.upServo.Sample(e.up.OffsetNs, at, at)
	e.apply(a, realNs, "upstream", e.up.OffsetNs)
	e.upSteered = true
	if a.StepNs != 0 {
		e.up.OffsetNs += float64(a.StepNs)
	}
	e.lastUpd = at
	e.dispNs = math.Abs(e.up.OffsetNs) + e.up.RootDispersionNs
	why := fmt.Sprintf("no trusted receiver time: serving %d upstream servers' time (%s), stratum %d", e.up.Truechimers, e.up.Sources, e.up.Stratum)
	if e.vetoed {
		why = "receiver vetoed: " + why
	}
	e.setState(Upstream, realNs, why)
}

// takeOverFromUpstream hands the clock back to the receiver's servo, at
// its first sample after the upstreams steered: it starts its phase
// estimate again from the clock as they left it, keeping their frequency.
// Its old estimate knew nothing of their steering: with it, the engine
// served the receiver's time again at once, claiming a few µs, while the
// clock was still as far off as the upstreams had put it (30 µs in
// TestUpstreamBackToReceiverKeepsItsBound).
func (e *Engine) takeOverFromUpstream() {
	if !e.upSteered {
		return
	}
	e.upSteered = false
	e.servo.handover(e.upServo.HoldFrequencyPPB(), e.upServo.FreqSigmaPPB())
}

// upstreamFresh: an estimate that counts at CLOCK_REALTIME realNs.
func (e *Engine) upstreamFresh(realNs int64) bool {
	return e.up.OK && realNs-e.up.AtNs < upstreamStaleNs
}

// vetoGPS checks a trusted receiver time (gpsOffNs: served minus receiver
// time) against the upstreams at CLOCK_REALTIME realNs, and reports
// whether it must not be used: vetoed, or waiting at start for the first
// upstream estimate.
func (e *Engine) vetoGPS(gpsOffNs float64, realNs int64) bool {
	if !e.cfg.Upstreams {
		return false
	}
	if !e.upstreamFresh(realNs) {
		if !e.upEverOK && !e.up.Silent && realNs-e.startNs < e.upWaitNs {
			e.gpsWaiting = true
			return true
		}
		e.gpsWaiting = false
		// Nothing to check it against: the receiver's word stands (a
		// veto already raised stands too, until they answer again).
		return e.vetoed
	}
	e.gpsWaiting = false
	diff := gpsOffNs - e.up.OffsetNs // their time minus the receiver's
	bound := math.Max(e.up.ErrorNs+vetoSlackNs, vetoMinNs)
	if math.Abs(diff) > bound {
		e.agreeSince = 0
		if !e.vetoed {
			e.vetoed = true
			served := e.cfg.Clock.Map(realNs)
			e.vetoAlarm = fmt.Sprintf("receiver time %s is %s %s %s, the time of %d upstream servers (%s), since %s: GPS distrusted, not served",
				hmsms(served-int64(gpsOffNs)), span(diff), aheadOrBehind(diff), hmsms(served-int64(e.up.OffsetNs)),
				e.up.Truechimers, e.up.Sources, hhmm(served))
			e.event(Event{AtNs: realNs, Kind: EventAlarm, Raised: true, Reason: e.vetoAlarm})
			switch e.state {
			case PPS, GPS, Holdover:
				e.servo.Reset()
				if e.cfg.Fallback {
					e.upstreamSample(realNs)
				} else {
					e.setState(Unsynchronised, realNs, "receiver vetoed by the upstream servers")
				}
			case Unsynchronised:
				if e.cfg.Fallback {
					e.upstreamSample(realNs)
				}
			}
		}
		return true
	}
	if !e.vetoed {
		return false
	}
	if e.agreeSince == 0 {
		e.agreeSince = realNs
	}
	if realNs-e.agreeSince < vetoHoldoffNs {
		return true
	}
	e.event(Event{AtNs: realNs, Kind: EventAlarm, Reason: fmt.Sprintf("receiver time agrees with the upstream servers again for %s: trusted again (%s)", span(vetoHoldoffNs), e.vetoAlarm)})
	e.vetoed, e.vetoAlarm, e.agreeSince = false, "", 0
	e.coarse, e.ppsSet, e.consistent = false, false, 0
	return false
}

// hmsms formats a UTC time (ns since the Unix epoch) to the millisecond.
func hmsms(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.000") }

// aheadOrBehind words the sign of their time minus the receiver's.
func aheadOrBehind(diffNs float64) string {
	if diffNs < 0 {
		return "ahead of"
	}
	return "behind"
}

// upstreamTick ends the fallback when the upstreams stop agreeing or
// answering, and enters it when holdover ends (Tick).
func (e *Engine) upstreamTick(realNs int64) {
	if e.state == Upstream && !e.upstreamFresh(realNs) {
		e.setState(Unsynchronised, realNs, "the upstream servers no longer agree or answer")
	}
}
