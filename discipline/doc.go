// Package discipline decides what time it is: it pairs PPS edges with the
// UTC seconds the receiver's NMEA names, runs the servo, steers a clock
// backend and publishes the Reference snapshot the NTP server answers from.
//
// Data flow (one goroutine, the daemon's discipline loop, calls the Engine):
//
//	pps.Edge ──▶ Engine.Edge: served time of the edge, computed at once
//	gps.Fix  ──▶ Engine.Fix:  label the edge that started the fix's second,
//	                          sample = served(edge) − label ──▶ Servo
//	                          Servo ──▶ Action{StepNs, FreqPPB} ──▶ Clock
//	Engine.Tick: loss of PPS/GPS, holdover expiry
//	every change ──▶ atomic *Reference ──▶ ntpserve
//
// Signs: an offset is our served time minus UTC (positive: we are ahead).
// A frequency correction is positive when it makes the served clock run
// faster. Times are ns since the Unix epoch; "served" times are after the
// clock backend's mapping, "realtime" times are the host's CLOCK_REALTIME.
//
// Labelling is the failure that matters most in this class of device: being
// exactly one second off. An edge is labelled only when it is the single
// edge in the second before the NMEA burst (20–980 ms before its first
// byte), three consecutive pairings agree with each other, and, once the
// clock is set, the edge's served time is within 400 ms of the label.
// Anything else is counted (Unpaired, Mislabel) and dropped.
//
// State machine: Unsynchronised → PPS once the servo locks to labelled
// edges, or GPS once the NMEA-only servo locks (no PPS configured, or PPS
// configured but silent for 10 s: NMEA time rather than nothing, until
// edges pair again); then Holdover when the reference is lost (no
// labelled edge for 5 s, no trusted fix for 10 s), keeping the last
// frequency while the advertised error grows at the servo's 3σ frequency
// uncertainty plus the assumed oscillator wander; Unsynchronised once that
// error passes MaxErrorNs (then NMEA time again if fixes still come).
//
// Receiver time jumps: after the first lock, a receiver time further from
// our clock than the step threshold (or our own error bound, if larger) is
// not followed, as in ntpd: the engine holds over or says it is
// unsynchronised, and raises an alarm (Status.Alarms). It follows the new
// time with a step only once it has held, at the same offset, for
// StepOutNs (300 s), and never beyond PanicNs (1000 s): that takes an
// operator. The first set of the clock is not checked (a Pi boots in 1970).
//
// Every step, state change and alarm is an Event, with its reason in
// words (Engine.Events); the daemon logs them.
//
// The servo (Servo) is pure: samples and times in, steering out. It is a
// two-state Kalman filter (phase, frequency) that learns its measurement
// noise from second differences of the open-loop offsets, gates outliers at
// 5σ, and models that a PPS edge's correction is applied when its NMEA
// arrives, not at the edge.
//
// Clock backends: Soft (served = CLOCK_REALTIME + a piecewise-linear
// correction; never touches the kernel clock; used by make run and tests).
package discipline
