package discipline

// MaxClockFreqPPB bounds the frequency correction of every backend
// (±5000 ppm): the kernel's ADJ_FREQUENCY alone reaches ±500 ppm, System
// adds ADJ_TICK for the rest, as chronyd does. Real crystals need tens of
// ppm; the range is for virtual machines whose TSC was calibrated against
// an emulated timer under load.
const MaxClockFreqPPB = 5000e3

// Clock is a clock backend: it turns host kernel timestamps (CLOCK_REALTIME)
// into served time and accepts steering. All times are ns since the Unix
// epoch. Implementations must make Now and Map safe for concurrent use and
// allocation-free: the NTP server calls them on every packet.
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
}
