package panel

import (
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
	"periph.io/x/conn/v3/gpio"
)

// Pattern is what the status LED shows.
type Pattern int

const (
	// FastBlink: unsynchronised (4 Hz), including a holdover that has
	// run out. Also while no status is known yet.
	FastBlink Pattern = iota
	// Steady: synchronised to PPS.
	Steady
	// SlowBlink: synchronised but not to PPS: GPS (NMEA) time only, or
	// holdover (1 s on, 1 s off).
	SlowBlink
	// DoubleFlash: an alarm is raised, whatever the state (two short
	// flashes, then a pause: 1.5 s).
	DoubleFlash
)

var patternNames = [...]string{FastBlink: "fast blink", Steady: "steady", SlowBlink: "slow blink", DoubleFlash: "double flash"}

func (p Pattern) String() string { return patternNames[p] }

// PatternFor is the LED pattern for a daemon status. An alarm wins: the
// operator must look. nil (no status yet) is unsynchronised.
func PatternFor(s *ctl.Snapshot) Pattern {
	switch {
	case s == nil:
		return FastBlink
	case len(s.Alarms) > 0:
		return DoubleFlash
	case s.Synchronised && s.State == "pps":
		return Steady
	case s.Synchronised:
		// gps, holdover, or any other reference a later daemon serves
		// from (upstream NTP): synchronised, not to PPS.
		return SlowBlink
	}
	return FastBlink
}

// steps are each pattern's cycle: alternating on and off durations,
// starting with on.
var steps = [...][]time.Duration{
	FastBlink:   {125 * time.Millisecond, 125 * time.Millisecond},
	Steady:      {time.Second},
	SlowBlink:   {time.Second, time.Second},
	DoubleFlash: {150 * time.Millisecond, 150 * time.Millisecond, 150 * time.Millisecond, 1050 * time.Millisecond},
}

// Level is whether the LED is lit at time t into the pattern (t ≥ 0; the
// cycle repeats).
func (p Pattern) Level(t time.Duration) gpio.Level {
	st := steps[p]
	if len(st) == 1 {
		return gpio.High
	}
	var cycle time.Duration
	for _, d := range st {
		cycle += d
	}
	t %= cycle
	if t < 0 {
		t += cycle
	}
	for i, d := range st {
		if t < d {
			return i%2 == 0
		}
		t -= d
	}
	return gpio.Low
}

// LED drives a status LED: Step says what to show at a moment, and
// writes to the pin only when the level changes. Not safe for
// concurrent use.
type LED struct {
	pin     gpio.PinOut
	pattern Pattern
	start   time.Duration // when the pattern began (the cycle's phase)
	level   gpio.Level
	written bool
	err     error
}

// NewLED drives pin (an output: gpioioctl's line, the ACT LED, or a test
// double).
func NewLED(pin gpio.PinOut) *LED { return &LED{pin: pin, pattern: -1} }

// Step shows s's pattern at now (any monotonic time). A new pattern
// starts its cycle from the beginning, so a change is seen at once.
func (l *LED) Step(s *ctl.Snapshot, now time.Duration) error {
	p := PatternFor(s)
	if p != l.pattern {
		l.pattern, l.start = p, now
	}
	lv := p.Level(now - l.start)
	if l.written && lv == l.level && l.err == nil {
		return nil
	}
	l.err = l.pin.Out(lv)
	l.level, l.written = lv, true
	return l.err
}

// Pattern is the pattern shown now.
func (l *LED) Pattern() Pattern { return l.pattern }
