package discipline

import (
	"fmt"
	"math"
)

// After the first lock the receiver's time is checked against our clock
// before it steers anything, as ntpd checks its sources (ntpd's step
// threshold, stepout and panic; ntp_loopfilter.c). A receiver that jumps
// (a firmware bug, a week-number rollover, a spoofer, a reset to its
// almanac date) is not followed: the engine holds over on its own clock or
// says it is unsynchronised, and raises an alarm. The new time is followed
// only when it persists, at the same offset, for the step-out interval and
// is within the panic limit; beyond that it takes an operator. The first
// set of the clock at boot is not checked: a Pi without an RTC starts in
// 1970.
const (
	// defaultStepOutNs: ntpd's stepout (300 s).
	defaultStepOutNs = 300e9
	// defaultPanicNs: ntpd's panic threshold (1000 s).
	defaultPanicNs = 1000e9
	// jumpTolNs: the samples of one jump must agree to this (NMEA bursts
	// jitter by milliseconds, PPS by microseconds). Measured from the first
	// sample, so a receiver time that wanders never persists.
	jumpTolNs = 100e6
	// jumpGapNs: a jump whose samples stop for this long starts again
	// (it did not persist; it was not seen).
	jumpGapNs = gpsLostNs
)

// jumpGuard is a receiver time that disagrees with our clock.
type jumpGuard struct {
	active bool
	// offNs is the first sample's offset: our served time minus the
	// receiver's (positive: the receiver is behind us).
	offNs float64
	// sinceNs, lastNs: CLOCK_REALTIME of its first and latest samples;
	// sinceServedNs is our served time at the first.
	sinceNs, lastNs, sinceServedNs int64
	alarm                          string
}

// window is how far a receiver time may be from our clock and still be
// followed: the step threshold, or our own error bound when that is larger
// (after a long outage it is our clock that may be off).
func (e *Engine) window(realNs int64) float64 {
	return math.Max(e.stepNs, e.errorAt(e.cfg.Clock.Map(realNs)))
}

// guard checks a receiver sample's offset (served minus receiver time, ns)
// taken at CLOCK_REALTIME realNs. It returns true when the sample must not
// steer the clock: a jump not (yet) followed, or one just followed (the
// clock was stepped and the servos start again).
func (e *Engine) guard(offNs float64, realNs int64) bool {
	if !e.everLocked {
		return false
	}
	j := &e.jump
	if math.Abs(offNs) <= e.window(realNs) {
		if j.active {
			e.event(Event{AtNs: realNs, Kind: EventAlarm, Reason: fmt.Sprintf("receiver time agrees with the clock again (it was %s %s since %s)",
				span(j.offNs), aheadBehind(j.offNs), hhmm(j.sinceServedNs))})
			*j = jumpGuard{}
		}
		return false
	}
	e.cnt.Distrusted++
	if !j.active || math.Abs(offNs-j.offNs) > jumpTolNs || realNs-j.lastNs > jumpGapNs {
		if j.active {
			e.event(Event{AtNs: realNs, Kind: EventAlarm, Reason: fmt.Sprintf("receiver time changed again (it was %s %s since %s)",
				span(j.offNs), aheadBehind(j.offNs), hhmm(j.sinceServedNs))})
		}
		*j = jumpGuard{active: true, offNs: offNs, sinceNs: realNs, lastNs: realNs, sinceServedNs: e.cfg.Clock.Map(realNs)}
		j.alarm = e.jumpAlarm()
		e.event(Event{AtNs: realNs, Kind: EventAlarm, Raised: true, Reason: j.alarm})
		why := fmt.Sprintf("receiver time jumped %s: not followed", signedSpan(-offNs))
		switch e.state {
		case PPS, GPS:
			e.enterHoldover(realNs, why)
		}
		return true
	}
	j.lastNs = realNs
	if realNs-j.sinceNs < e.stepOutNs || (e.panicNs > 0 && math.Abs(offNs) > float64(e.panicNs)) {
		return true
	}
	// Persisted, consistently, for the step-out interval, within the
	// panic limit: follow it.
	why := fmt.Sprintf("receiver time %s %s the clock since %s (step-out %s): followed",
		span(offNs), aheadBehind(offNs), hhmm(j.sinceServedNs), seconds(e.stepOutNs))
	e.step(-int64(math.Round(offNs)), realNs, why)
	e.servo.Reset()
	e.event(Event{AtNs: realNs, Kind: EventAlarm, Reason: fmt.Sprintf("receiver time jump of %s followed after the %s step-out", signedSpan(-offNs), seconds(e.stepOutNs))})
	*j = jumpGuard{}
	e.setState(Unsynchronised, realNs, "clock stepped to the receiver's new time: acquiring again")
	return true
}

// aheadBehind words the sign of an offset (served minus receiver time).
func aheadBehind(offNs float64) string {
	if offNs < 0 {
		return "ahead of"
	}
	return "behind"
}

// jumpAlarm is the alarm text for the active jump.
func (e *Engine) jumpAlarm() string {
	j := &e.jump
	s := fmt.Sprintf("receiver time is %s %s the clock since %s: not followed; ",
		span(j.offNs), aheadBehind(j.offNs), hhmm(j.sinceServedNs))
	if e.panicNs > 0 && math.Abs(j.offNs) > float64(e.panicNs) {
		return s + fmt.Sprintf("beyond the %s panic limit: check the receiver, restart gpsntpd to accept it", seconds(e.panicNs))
	}
	return s + fmt.Sprintf("followed if it holds until %s", hhmm(j.sinceServedNs+e.stepOutNs))
}

// seconds formats a configured duration (ns) in whole seconds: "300 s".
func seconds(ns int64) string { return fmt.Sprintf("%.0f s", float64(ns)/1e9) }
