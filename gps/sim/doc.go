// Package sim is a simulated GNSS receiver: a u-blox M8 at 1 Hz writing
// NMEA (GNRMC, GNVTG, GNGGA, GNGSA ×2, GPGSV/GLGSV, GNGLL, GNZDA, correct
// checksums, a fixed position, 15 satellites in view, 13 used) to a pty
// master, for tests and for `make run`.
//
// # Timing
//
// Simulated GPS time is defined by a simtime.Timeline, shared with the
// simulated PPS source. The burst naming GPS second N (seconds since the
// Unix epoch, UTC; the simulation has no leap seconds) starts at host time
//
//	Timeline.HostAt(N·1e9) + Delay        (Delay default 120 ms, 50–900 ms)
//
// i.e. after the PPS edge that marks N, as a real receiver's output does.
// Bursts are scheduled against absolute host-time (time.Now) deadlines, so
// no drift accumulates, and are written byte-paced at the configured baud
// (10 bits per byte): each small chunk is written at the moment its last
// byte would have left a real UART, so a reader that timestamps a read and
// subtracts (n−1) byte times recovers the burst's start, as gps.Receiver
// does. A burst that would not fit before the next second at the baud rate
// is trimmed (GSV first), as real receivers drop output.
//
// # Faults
//
// Config.DropFraction skips whole bursts; Config.GarbageFraction splices
// junk (NUL, 0xFF, a UBX header, a cut-off sentence) into bursts. Both are
// seeded (Config.Seed).
//
// # PTYs
//
// OpenPTY opens a /dev/ptmx pair and returns the master and the slave's
// path; the code under test opens the slave as its serial port. Closing
// the master removes the slave, which looks like an unplugged receiver.
package sim
