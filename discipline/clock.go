package discipline

// MaxClockFreqPPB bounds the frequency correction of every backend
// (±5000 ppm): the kernel's ADJ_FREQUENCY alone reaches ±500 ppm, System
// adds ADJ_TICK for the rest, as chronyd does. Real crystals need tens of
// ppm; the range is for virtual machines whose TSC was calibrated against
// an emulated timer under load.
const MaxClockFreqPPB = 5000e3

// Clock is a clock backend: it turns host kernel timestamps (CLOCK_REALTIME)
// into served time, accepts steering, and tells whoever else reads the
// clock what state it is in. All times are ns since the Unix epoch.
// Implementations must make Now and Map safe for concurrent use and
// allocation-free: the NTP server calls them on every packet. Every
// backend implements every method; where a backend has nothing to do, its
// method says so and does nothing.
type Clock interface {
	// Now returns the served (disciplined) time now.
	Now() int64
	// Map converts a CLOCK_REALTIME kernel timestamp (a PPS edge, a socket
	// receive time) to served time.
	Map(realtimeNs int64) int64
	// SetFrequency sets the frequency correction: positive freqPPB makes
	// the served clock run faster. It is absolute, not incremental.
	SetFrequency(freqPPB float64)
	// Step adds deltaNs to the served time at once (negative: back).
	Step(deltaNs int64)
	// ScheduleLeap makes the clock carry out leap second e itself at its
	// UTC midnight (Soft: in its mapping; System: the kernel's
	// STA_INS/STA_DEL, armed in the last day). The engine calls it on
	// every update while a leap is announced: scheduling the same event
	// again is a no-op.
	ScheduleLeap(e LeapEvent)
	// ReportSync tells the rest of the system whether the clock is
	// synchronised and how good it is (System: the kernel's STA_UNSYNC,
	// maxerror and esterror, read by timedatectl and adjtimex). Soft: a
	// no-op, as no one but our server reads its time. Called on every
	// engine update.
	ReportSync(synced bool, maxErrorNs, estErrorNs int64)
	// Failures returns how many changes the backend could not make (System:
	// clock_adjtime calls the kernel refused) and the latest error. The
	// engine cannot act on them; the daemon logs them. Soft: never fails.
	Failures() (n uint64, last error)
}
