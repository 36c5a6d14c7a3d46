// Package agentwire is what the arm64 VM tests' guest agent (vmtest/guest)
// and the host (vmtest) say to each other as JSON on the serial console,
// declared once for both sides.
package agentwire

import (
	"slices"
	"strings"

	"github.com/gpsntp/gpsntp/internal/ctl"
)

// Edge is one edge of the agent's stream (verb edges or kedges), with the
// verdict of a pps.Validator run over the stream.
type Edge struct {
	Seq      uint32 `json:"seq"`
	AssertNs int64  `json:"assert_ns"`
	// ReadNs is the guest's CLOCK_REALTIME when the agent got the edge.
	ReadNs     int64  `json:"read_ns"`
	Class      string `json:"class"`
	Missed     int64  `json:"missed"`
	IntervalNs int64  `json:"interval_ns"`
}

// Status is the part of gpsntpd's control-socket snapshot the host checks
// (verb status).
type Status struct {
	State  string        `json:"state"`
	RefID  string        `json:"refid"`
	Alarms []string      `json:"alarms,omitempty"`
	PPS    ctl.PPSStatus `json:"pps"`
	Fixes  uint64        `json:"fixes"`
	GPSDev string        `json:"gps_device"`
}

// Alarm reports whether an alarm contains substr.
func (s Status) Alarm(substr string) bool {
	return slices.ContainsFunc(s.Alarms, func(a string) bool { return strings.Contains(a, substr) })
}
