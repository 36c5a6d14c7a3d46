package gps

import "time"

// Mode is the receiver's fix mode as NMEA GSA reports it.
type Mode int

const (
	ModeUnknown Mode = 0 // no GSA/GGA seen yet
	ModeNoFix   Mode = 1
	Mode2D      Mode = 2
	Mode3D      Mode = 3
)

// Satellite is one satellite as GSV reports it.
type Satellite struct {
	PRN          int
	ElevationDeg int
	AzimuthDeg   int
	SNRdBHz      int // -1: not tracked
	Used         bool
}

// Fix is everything one receiver epoch said: the UTC second it names, whether
// that time is trusted, and what the status screens show. It is a plain value.
type Fix struct {
	// Time is the UTC time the epoch names (the PPS edge that precedes the
	// burst marks its start). Zero unless TimeValid.
	Time time.Time
	// TimeValid: the decoder trusts Time (date from RMC status A or ZDA, no
	// disagreement, not going backwards).
	TimeValid bool
	// LeapSecond: the receiver named second 60 (an inserted leap second,
	// 23:59:60). Go's time cannot express :60, so Time holds 23:59:59 (plus
	// any fraction) of that day and LeapSecond is set: consumers must not
	// take it for a repeat of :59.
	LeapSecond bool
	// Distrust says why an epoch that named a time of day is not TimeValid;
	// DistrustNone when trusted or untimed. Its String is what status shows.
	Distrust   Distrust
	Mode       Mode
	SatsUsed   int
	SatsInView int
	HDOP, PDOP float64
	LatDeg     float64
	LonDeg     float64
	AltM       float64
	Satellites []Satellite
	// Receiver names the receiver model when the data tells it ("" if unknown).
	Receiver string
	// ArrivalNs is CLOCK_REALTIME (ns since the Unix epoch, host kernel clock)
	// at which the first byte of the epoch's first sentence was read.
	ArrivalNs int64
	// Sentences is the number of sentences that made up this epoch.
	Sentences int
	// Leap is the receiver's latest leap second announcement (u-blox
	// UBX-NAV-TIMELS), carried in every Fix after it; zero when the
	// receiver has told nothing.
	Leap LeapNotice
}

// LeapNotice is what a receiver announced of leap seconds, decoded from
// UBX-NAV-TIMELS (u-blox M8 protocol spec §32.18.28). NMEA 0183 carries no
// announcement, so receivers without a binary protocol say nothing.
type LeapNotice struct {
	// Known: the receiver reported the next leap second (from a GNSS
	// broadcast, not its firmware default); Change and At are meaningful.
	Known bool
	// Change is the leap second scheduled: +1 inserted (23:59:60), −1
	// deleted (23:59:59 skipped), 0 none scheduled.
	Change int
	// At is the UTC midnight the leap second ends at (the end of the last
	// day of a month); zero when Change is 0.
	At time.Time
	// GPSMinusUTCS is the current leap second count (GPS − UTC, 18 s
	// since 2017), 0 if the receiver does not know it.
	GPSMinusUTCS int
}
