// Package gps turns a GNSS receiver's NMEA 0183 output into one Fix per
// receiver epoch: the UTC time the epoch names, whether that time can be
// trusted (and why not), and what the status screens show.
//
// # Pipeline
//
//	serial port ─▶ Receiver   opens the device (auto-baud, reopen with
//	                 │        backoff), writes Config.Init, stamps each read
//	                 ▼ bytes + host arrival time of the first
//	               Framer     bytes → Line: resync at '$'/'!', CR/LF, length
//	                 │        cap, checksum; u-blox UBX-NAV-TIMELS taken whole
//	                 ▼
//	               Decoder    Line → Sentence: fields parsed in place; the
//	                 │        receiver model from TXT/proprietary lines
//	                 ▼
//	               Assembler  Sentences → epoch → Fix: dates, century, GPS
//	                          week rollover, leap second, trust, leap notice
//
// Stream chains Framer, Decoder and Assembler. Receiver drives it from a
// serial port and DecodeCapture (gpsntpctl decode) from a capture file, so
// offline decoding is exactly what the daemon does. The three stages are
// pure (arrival times are arguments; only Receiver reads the clock) and
// count every outcome (StreamStats, in Receiver.Stats).
//
// # What a caller must know
//
//   - Fix.Time is zero unless Fix.TimeValid; Fix.Distrust says why not. A
//     time is trusted only with a date (RMC status A or ZDA, or inherited by
//     GGA/GNS from a recent trusted epoch), no RMC naming it with status V,
//     RMC and ZDA agreeing, and time going forward. Pairing a fix with a
//     PPS edge also needs Mode ≥ Mode2D.
//   - A leap second (23:59:60) is Time = 23:59:59.x with LeapSecond set: it
//     is not a repeat of :59.
//   - Fix.ArrivalNs is host CLOCK_REALTIME when the first byte of the
//     epoch's first sentence arrived, estimated from the read (return time
//     less (n−1) byte times). The PPS edge that starts the named second
//     precedes it by the receiver's output delay (50–900 ms).
//   - The date floor (Config.ReferenceDate; the floor given to NewStream and
//     DecodeCapture) places two-digit years and unfolds GPS week rollovers.
//     Never take it from the system clock: a Pi has no RTC and boots in
//     1970. Zero means DefaultReferenceDate.
//   - Fix.Leap is the receiver's leap second announcement: only u-blox
//     receivers sending UBX-NAV-TIMELS give one; NMEA carries none.
//   - Receiver.Run never blocks on its channel (a blocked reader would
//     timestamp late): a full channel drops the fix and counts it, so give
//     the channel a buffer. Receiver.Preopen opens the device before a
//     privilege drop; a reopen after a loss needs the user's own access.
//   - Stream and its stages are not goroutine-safe; Line.Text is valid
//     only during the callback that receives it.
//
// docs/gps-decoding.md has the rest and the reasons: the date and trust
// rules in full, where an epoch ends, the receiver model, leap second
// announcements, the go-nmea and serial traps worked around, the gpsd
// capture corpus (testdata/nmea) and how the package got its shape.
package gps
