package discipline

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The System backend itself changes the host clock, so it runs only in the
// VM test (vmtest); here, the decisions it makes, which are pure.
func TestSystemLeapBits(t *testing.T) {
	midnight := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	ins := LeapEvent{AtNs: midnight, Insert: true}
	del := LeapEvent{AtNs: midnight, Insert: false}
	for _, c := range []struct {
		name  string
		nowNs int64
		e     LeapEvent
		bits  int32
		arm   bool
	}{
		{"a month before: not yet", midnight - 30*86400e9, ins, 0, false},
		{"25 h before: not yet (would leap a day early)", midnight - 25*3600e9, ins, 0, false},
		{"during the last day: insert", midnight - 3600e9, ins, unix.STA_INS, true},
		{"during the last day: delete", midnight - 3600e9, del, unix.STA_DEL, true},
		{"after it: nothing", midnight + 1e9, ins, 0, false},
	} {
		bits, arm := leapBits(c.nowNs, c.e)
		if bits != c.bits || arm != c.arm {
			t.Errorf("%s: leapBits = %#x, %v; want %#x, %v", c.name, bits, arm, c.bits, c.arm)
		}
	}
	// The armed bit stays in every status write until midnight, with or
	// without STA_UNSYNC, and is dropped after.
	if st, p := kernelStatus(midnight-1e9, true, unix.STA_INS, midnight); st != unix.STA_INS || !p {
		t.Errorf("before midnight, synced: status %#x pending %v", st, p)
	}
	if st, _ := kernelStatus(midnight-1e9, false, unix.STA_INS, midnight); st != unix.STA_INS|unix.STA_UNSYNC {
		t.Errorf("before midnight, unsynced: status %#x", st)
	}
	if st, p := kernelStatus(midnight+1e9, true, unix.STA_INS, midnight); st != 0 || p {
		t.Errorf("after midnight: status %#x pending %v, want 0, false", st, p)
	}
}

// TestSystemSplitFreq: corrections past the kernel's ±500 ppm frequency
// limit go into the tick; the frequency keeps the fine remainder; joining
// gives back the correction to the kernel's resolution.
func TestSystemSplitFreq(t *testing.T) {
	for _, c := range []struct {
		ppb    float64
		tickUs int64
	}{
		{0, 10000}, {49e3, 10000}, {-49e3, 10000}, {51e3, 10001}, {-51e3, 9999},
		{499e3, 10005}, {723.4e3, 10007}, {-4999e3, 9950}, {MaxClockFreqPPB, 10050},
	} {
		tick, scaled := splitFreq(c.ppb)
		if tick != c.tickUs {
			t.Errorf("splitFreq(%g ppb) tick = %d µs, want %d", c.ppb, tick, c.tickUs)
		}
		if ppm := float64(scaled) / 65536; ppm < -50 || ppm > 50 {
			t.Errorf("splitFreq(%g ppb) frequency = %g ppm, want within ±50", c.ppb, ppm)
		}
		if got := joinFreq(tick, scaled); got < c.ppb-0.02 || got > c.ppb+0.02 {
			t.Errorf("joinFreq(splitFreq(%g ppb)) = %g ppb", c.ppb, got)
		}
	}
	// The kernel refuses a tick outside ±10 % (adjtimex(2)).
	if lo, _ := splitFreq(-MaxClockFreqPPB); lo < 9000 {
		t.Errorf("tick %d µs below the kernel's limit", lo)
	}
}
