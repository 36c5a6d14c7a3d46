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
//	Engine.Events, Engine.Status ──▶ the daemon's log and status screens
//	Engine.SlewedNs (any goroutine) ──▶ package upstream's filters
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
// # States
//
//	Unsynchronised  no trusted time; the wire says so (LI 3)
//	GPS             NMEA time alone (refid GPS): milliseconds
//	PPS             labelled PPS edges steer (refid PPS)
//	Holdover        reference lost: the last frequency is held and the
//	                advertised error grows
//
// PPS or GPS is reached when the servo steering locks. Holdover follows
// 5 s without a paired edge (PPS) or 10 s without a trusted fix (GPS); its
// error grows at the servo's 3σ frequency uncertainty plus
// Config.WanderPPB, and it ends (Unsynchronised) once that passes
// MaxErrorNs (or twice the error it started with, for NMEA time) or after
// HoldoverMaxNs.
//
// NMEA fallback: with PPS configured but no edge for 10 s (since start if
// none ever came), once no PPS holdover is under way, the engine steers
// from NMEA (state GPS) rather than serve nothing, carrying the PPS
// frequency over, and raises an alarm. It returns to PPS once three
// pairings in a row agree and (after the first lock) the receiver's time
// agrees with our clock.
//
// Receiver time jumps: after the first lock, a receiver time further from
// our clock than the step threshold (or our own error bound, if larger) is
// not followed, as in ntpd: the engine holds over or stays unsynchronised,
// and raises an alarm. It steps to the new time only once it has held, at
// the same offset, for Config.StepOutNs (default 300 s, ntpd's stepout),
// and never beyond Config.PanicNs (default 1000 s, ntpd's panic; negative:
// no limit): that takes an operator. The first set of the clock is not
// checked (a Pi boots in 1970).
//
// Events and alarms: every step, state change and alarm raised or cleared
// is an Event with its reason in words (Engine.Events; the daemon logs
// them). Status.Alarms lists the conditions in force: a receiver time jump
// not followed, PPS configured but silent.
//
// Leap seconds come from Config.Leaps (a leap-seconds.list) while it is
// current, else from the receiver's announcement (gps.LeapNotice); the
// clock backend carries the leap out.
//
// Slew ledger (slew.go): the phase the servos have slewed the clock by,
// their Action.SlewPPB integrated, so that measurements kept for minutes
// (package upstream's clock filters) can be re-expressed on the clock as
// it is now. Steps are not in it: the daemon passes them on.
//
// The servo (Servo) is pure: samples and times in, steering out. It is a
// two-state Kalman filter (phase, frequency) that learns its measurement
// noise from second differences of the open-loop offsets, gates outliers at
// 5σ, and models that a PPS edge's correction is applied when its NMEA
// arrives, not at the edge.
//
// Clock backends (Clock):
//   - System (Linux, the appliance): steers CLOCK_REALTIME itself with
//     clock_adjtime(2), so Map is the identity; needs CAP_SYS_TIME and runs
//     for real only on the board or in the VM test.
//   - Soft: served = CLOCK_REALTIME + a piecewise-linear correction; never
//     touches the kernel clock (gpsntpd -sim, make run, tests).
//   - Sim: Simulate runs the real Engine on a Soft clock whose
//     CLOCK_REALTIME is a modelled Oscillator, seconds at a time without
//     sleeping (gpsntpctl simulate).
package discipline
