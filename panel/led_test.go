package panel

import (
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func TestPatternFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *ctl.Snapshot
		want Pattern
	}{
		{"no status yet", nil, FastBlink},
		{"unsynchronised", &ctl.Snapshot{State: "unsync"}, FastBlink},
		{"synchronised to PPS", &ctl.Snapshot{State: "pps", Synchronised: true, RefID: "PPS"}, Steady},
		{"GPS only", &ctl.Snapshot{State: "gps", Synchronised: true, RefID: "GPS"}, SlowBlink},
		{"holdover", &ctl.Snapshot{State: "holdover", Synchronised: true, RefID: "PPS"}, SlowBlink},
		{"holdover run out", &ctl.Snapshot{State: "holdover", Synchronised: false}, FastBlink},
		{"pps state not yet synchronised", &ctl.Snapshot{State: "pps", Synchronised: false}, FastBlink},
		{"PPS with an alarm", &ctl.Snapshot{State: "pps", Synchronised: true, Alarms: []string{"leap file expired"}}, DoubleFlash},
		{"GPS with an alarm", &ctl.Snapshot{State: "gps", Synchronised: true, Alarms: []string{"x"}}, DoubleFlash},
		{"unsynchronised with an alarm", &ctl.Snapshot{State: "unsync", Alarms: []string{"GPS device lost"}}, DoubleFlash},
	} {
		if got := PatternFor(tc.s); got != tc.want {
			t.Errorf("%s: PatternFor(%+v) = %v, want %v", tc.name, tc.s, got, tc.want)
		}
	}
}

// levels renders a pattern as a string, one character per 50 ms step:
// '#' lit, '.' dark.
func levels(p Pattern, from, to time.Duration) string {
	var b []byte
	for t := from; t < to; t += 50 * time.Millisecond {
		if p.Level(t) {
			b = append(b, '#')
		} else {
			b = append(b, '.')
		}
	}
	return string(b)
}

func TestPatternLevel(t *testing.T) {
	for _, tc := range []struct {
		p    Pattern
		want string // 0–3 s in 50 ms steps
	}{
		{Steady, "############################################################"},
		{SlowBlink, "####################....................####################"},
		// 125 ms on, 125 off: 50 ms samples at 0, 50, 100 | 150, 200 | 250 …
		{FastBlink, "###..###..###..###..###..###..###..###..###..###..###..###.."},
		// 150 on, 150 off, 150 on, 1050 off: a 1.5 s cycle.
		{DoubleFlash, "###...###.....................###...###....................."},
	} {
		if got := levels(tc.p, 0, 3*time.Second); got != tc.want {
			t.Errorf("%v.Level over 3 s =\n%s, want\n%s", tc.p, got, tc.want)
		}
	}
	if !Steady.Level(-time.Second) || SlowBlink.Level(-500*time.Millisecond) {
		t.Errorf("Level before the start: want the cycle continued backwards")
	}
}

// countingPin is periph's gpiotest.Pin, counting writes.
type countingPin struct {
	*gpiotest.Pin
	writes int
}

func (c *countingPin) Out(l gpio.Level) error { c.writes++; return c.Pin.Out(l) }

func TestLEDDrivesPin(t *testing.T) {
	pin := &countingPin{Pin: &gpiotest.Pin{N: "GPIO17", Num: 17}}
	led := NewLED(pin)
	pps := &ctl.Snapshot{State: "pps", Synchronised: true}
	gpsOnly := &ctl.Snapshot{State: "gps", Synchronised: true}
	alarm := &ctl.Snapshot{State: "pps", Synchronised: true, Alarms: []string{"display missing"}}
	ms := time.Millisecond
	for i, step := range []struct {
		s       *ctl.Snapshot
		at      time.Duration
		want    gpio.Level
		pattern Pattern
		writes  int // total Out calls so far
	}{
		{nil, 0, gpio.High, FastBlink, 1},
		{nil, 100 * ms, gpio.High, FastBlink, 1}, // unchanged: not written again
		{nil, 130 * ms, gpio.Low, FastBlink, 2},
		{pps, 140 * ms, gpio.High, Steady, 3},
		{pps, 5000 * ms, gpio.High, Steady, 3},
		{gpsOnly, 5100 * ms, gpio.High, SlowBlink, 3}, // a new pattern starts lit
		{gpsOnly, 6100 * ms, gpio.Low, SlowBlink, 4},
		{gpsOnly, 7100 * ms, gpio.High, SlowBlink, 5},
		{alarm, 7200 * ms, gpio.High, DoubleFlash, 5},
		{alarm, 7360 * ms, gpio.Low, DoubleFlash, 6},
		{alarm, 7510 * ms, gpio.High, DoubleFlash, 7},
		{alarm, 7660 * ms, gpio.Low, DoubleFlash, 8},
		{alarm, 8600 * ms, gpio.Low, DoubleFlash, 8},
		{alarm, 8700 * ms, gpio.High, DoubleFlash, 9},
	} {
		if err := led.Step(step.s, step.at); err != nil {
			t.Fatalf("step %d: Step = %v", i, err)
		}
		if pin.L != step.want || led.Pattern() != step.pattern || pin.writes != step.writes {
			t.Errorf("step %d at %v: pin %v, pattern %v, %d writes; want %v, %v, %d", i, step.at, pin.L, led.Pattern(), pin.writes, step.want, step.pattern, step.writes)
		}
	}
}
