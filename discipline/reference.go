package discipline

import (
	"fmt"
	"time"
)

// State is where the discipline is in its life cycle.
type State int

const (
	// Unsynchronised: no trusted time; the server says so on the wire (LI 3).
	Unsynchronised State = iota
	// GPS: time from NMEA alone (refid GPS), millisecond-level error.
	GPS
	// PPS: PPS edges labelled with validated UTC seconds steer the clock
	// (refid PPS).
	PPS
	// Holdover: the reference was lost; the clock free-runs on its last
	// frequency and the advertised error grows until it passes maxerror.
	Holdover
	// Upstream: no trusted receiver time (gone past holdover, or vetoed):
	// the clock follows the upstream NTP servers and serves at their
	// stratum + 1 (upstream.go).
	Upstream
)

func (s State) String() string {
	switch s {
	case Unsynchronised:
		return "unsync"
	case GPS:
		return "gps"
	case PPS:
		return "pps"
	case Holdover:
		return "holdover"
	case Upstream:
		return "upstream"
	}
	return "state?"
}

// Leap is the leap indicator, with the values it has on the NTP wire (RFC
// 5905 section 7.3: the first byte's two top bits).
type Leap uint8

// Leap indicator values.
const (
	LeapNone   Leap = 0
	LeapInsert Leap = 1 // last minute of the day has 61 seconds
	LeapDelete Leap = 2 // last minute of the day has 59 seconds
	LeapAlarm  Leap = 3 // clock unsynchronised
)

func (l Leap) String() string {
	switch l {
	case LeapNone:
		return "none"
	case LeapInsert:
		return "insert"
	case LeapDelete:
		return "delete"
	case LeapAlarm:
		return "alarm"
	}
	return fmt.Sprintf("Leap(%d)", uint8(l))
}

// Reference is the immutable snapshot the discipline publishes for the
// server. A new value is published (atomically, by pointer) whenever
// anything in it changes; readers never see a half-updated snapshot.
type Reference struct {
	State State
	// Synchronised: the time served is trusted. When false the wire carries
	// LI 3 (alarm) and stratum 0 (unspecified), as chronyd does.
	Synchronised bool
	Leap         Leap
	Stratum      uint8
	RefID        [4]byte // "PPS\0" or "GPS\0" (RFC 5905 section 7.3, kiss-code style ASCII)
	// RefTimeNs is the served-clock time (ns since the Unix epoch, UTC) of the
	// last update of the clock from the reference.
	RefTimeNs int64
	// RootDelayNs: round trip to the primary reference; 0 for a refclock.
	RootDelayNs int64
	// RootDispersionNs is the error bound at RefTimeNs. The server adds
	// DispersionRateNsPerS per second elapsed since RefTimeNs at reply time,
	// so holdover is honest on the wire (RFC 5905 section 11.2: PHI = 15 ppm
	// plus what the servo can justify).
	RootDispersionNs     int64
	DispersionRateNsPerS float64
	// Precision is log2 seconds of the clock's read precision (RFC 5905).
	Precision int8
	// Stats for status screens, not for the wire.
	OffsetNs float64 // last measured offset, positive: our clock ahead of UTC
	JitterNs float64
	FreqPPB  float64 // frequency correction applied, positive: clock sped up
	// FreqEstPPB is the servo's estimate of the oscillator's frequency
	// correction without the part slewing the current phase error away:
	// what to hold in holdover and to save in the drift file.
	FreqEstPPB float64
	UpdatedAt  time.Time
}

// RootDispersionAt returns the root dispersion (ns) to advertise at served
// time nowNs: the bound at the reference time grown by the dispersion rate.
func (r *Reference) RootDispersionAt(nowNs int64) int64 {
	el := nowNs - r.RefTimeNs
	if el < 0 {
		el = 0
	}
	return r.RootDispersionNs + int64(float64(el)/1e9*r.DispersionRateNsPerS)
}
