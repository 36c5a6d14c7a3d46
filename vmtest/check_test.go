package vmtest

import (
	"testing"
	"time"

	"github.com/beevik/ntp"
)

// TestCheckReply shows the boot test's check can fail: a guest serving the
// host's time, its unsteered 1970 clock, an unsynchronised state or the
// wrong refid is rejected.
func TestCheckReply(t *testing.T) {
	now := time.Now()
	good := func() *ntp.Response {
		return &ntp.Response{
			Time: now.Add(simOffset), ReferenceTime: now.Add(simOffset - time.Second),
			Stratum: 1, ReferenceID: 0x47505300, // "GPS\0"
			Leap: ntp.LeapNoWarning, Version: 4,
			RootDispersion: time.Millisecond,
			ClockOffset:    simOffset + 3*time.Millisecond,
		}
	}
	for _, tc := range []struct {
		name   string
		modify func(*ntp.Response)
		ok     bool
	}{
		{"gps time", func(*ntp.Response) {}, true},
		{"gps time, 49ms late", func(r *ntp.Response) { r.ClockOffset = simOffset - 49*time.Millisecond }, true},
		{"host time", func(r *ntp.Response) { r.ClockOffset = 2 * time.Millisecond }, false},
		{"gps time + nmea delay", func(r *ntp.Response) { r.ClockOffset = simOffset + simDelay }, false},
		{"1970", func(r *ntp.Response) {
			r.Time = time.Unix(100, 0)
			r.ReferenceTime = time.Unix(99, 0)
			r.ClockOffset = time.Unix(100, 0).Sub(now)
		}, false},
		{"unsynchronised", func(r *ntp.Response) { r.Leap = ntp.LeapNotInSync }, false},
		{"stratum 2", func(r *ntp.Response) { r.Stratum = 2 }, false},
		{"refid PPS", func(r *ntp.Response) { r.ReferenceID = 0x50505300 }, false},
	} {
		r := good()
		tc.modify(r)
		err := checkReply(r, simOffset, tolerance)
		if (err == nil) != tc.ok {
			t.Errorf("%s: checkReply = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
