// Package gps turns a GNSS receiver's NMEA 0183 output into one Fix per
// receiver epoch: the UTC time the epoch names, whether that time can be
// trusted, and what the status screens show.
//
// # Data flow
//
//	serial port (Receiver, go.bug.st/serial)
//	  │  chunks + host arrival time of their first byte
//	  ▼
//	Framer          bytes → lines: resync at '$'/'!', CR/LF/CRLF, length cap,
//	  │             checksum; every outcome counted (FramerStats)
//	  ▼
//	Decoder         lines → Sentence (fields parsed from the line bytes, no
//	  │             allocation; go-nmea, one SentenceParser per reader, as
//	  │             the strict gate for lines without a checksum); the
//	  │             receiver model (Fix.Receiver) from TXT/proprietary lines
//	  ▼
//	Assembler       sentences → epochs → Fix (dates, century, rollover,
//	                leap second, trust)
//
// Stream chains the three pure stages; Receiver drives a Stream from a
// serial port, and gpsntpctl decode drives the same Stream from a capture
// file (DecodeCapture), so offline decoding is exactly what the daemon does.
// Framer, Decoder and Assembler never read a clock: arrival times are
// arguments. Only Receiver calls time.Now, once per read.
//
// # Time, units and signs
//
//   - Fix.Time is UTC as the receiver named it, to the full precision of the
//     field (go-nmea keeps only milliseconds; we parse the field ourselves).
//     It is zero unless Fix.TimeValid. Fix.Distrust says why not.
//   - A leap second (23:59:60) is Time = 23:59:59.x with LeapSecond set;
//     it is accepted only at 23:59 UTC on the last day of a month.
//   - Fix.ArrivalNs is host CLOCK_REALTIME (ns since the Unix epoch) at
//     which the first byte of the epoch's first sentence arrived, estimated
//     as readReturn − (n−1)·byteTime for an n-byte read, byteTime = 10 bits
//     / baud (8N1). The PPS edge that starts the named second precedes it by
//     the receiver's output delay (50–900 ms).
//   - Dates: only RMC with status A and ZDA carry a date. GGA/GNS time of
//     day inherits the date of the last trusted epoch (crossing midnight when
//     it goes back by more than 12 h). An epoch whose only time comes from
//     GLL is never trusted (Garmin 48 stamps GLL one second after the RMC/GGA
//     of the same burst: testdata/nmea/garmin48.log).
//   - Two-digit years go through ExpandYear with PivotYear(reference) =
//     reference year − 20. Dates before the reference (the floor) move
//     forward in whole 1024-week GPS rollover periods (UnfoldRollover;
//     IS-GPS-200 §20.3.3.3.1.1), never judged against the system clock (a
//     Pi has no RTC and boots in 1970). Dates before 1980-01-06 are receiver
//     defaults and are distrusted.
//
// # Trust rules
//
// An epoch's time is TimeValid only if: it has a date (RMC A or ZDA, or an
// inherited one for GGA/GNS); no RMC in it says status V; RMC and ZDA dates
// agree; and it comes after the previous dated epoch. Consumers pairing
// fixes with PPS edges must also require Mode ≥ Mode2D.
//
// # Epochs
//
// An epoch (one burst, 1–10 Hz) ends when the learnt cycle-ending sentence
// arrives (the last sentence of the two previous epochs, counting repeats
// and only the last part of a GSV group), when a sentence names another
// time, when the line was silent for DefaultBurstGap before a sentence
// (no byte at all: a line lost to junk is not silence, Line.QuietNs), or at
// Flush. A timed sentence for an epoch already emitted is dropped
// (AssemblerStats.Late) rather than start a duplicate. An epoch during which
// lines were lost to junk teaches nothing about the cycle (two cut-short
// epochs in a row would otherwise teach a wrong ender and cut the next
// clean epoch short), and untimed leftovers at a burst gap unlearn it.
//
// # Receiver model
//
// Fix.Receiver names the receiver once its data tells: u-blox start-up
// $GxTXT (MOD=, HW UBX-…, PROTVER, "u-blox"), CASIC $GPTXT (IC=, MA=CASIC,
// ANTENNA OK), $PMTK705, $PGRMT, $PDTINFO, and the proprietary prefixes of
// other vendors ($PUBX, $PMTK, $PQ…, $PSRF, $PGRM…, $PERD…, $PTNL…, …).
// A more specific name replaces a vendor name, never the reverse.
//
// # Leap second announcements
//
// NMEA 0183 carries none. u-blox receivers send UBX-NAV-TIMELS (the u-blox
// profile's init commands ask for it once a minute): the framer takes
// those frames whole from between the sentences (a '$' or CR in their
// payload must not start or end a line), and the assembler turns the
// seconds-to-event into the UTC midnight it ends at and puts the notice
// in every Fix (Fix.Leap). The discipline engine uses it when no current
// leap-seconds.list is configured. Other B5 62 sequences stay junk to the
// NMEA framer, so a false sync in line noise swallows nothing.
//
// # Init commands
//
// Config.Init (the daemon passes board.Receiver.InitCommands) is written
// after every open, once the rate is known, concurrently with reading and
// paced: each command's wire time plus Config.InitGap before the next.
//
// # Known traps (and what we do)
//
//   - go-nmea DateTime(0, …) falls back to time.Now() (wrong century on a Pi
//     booted in 1970): never called; dates are built here.
//   - go-nmea rejects a whole RMC when an old receiver puts the FAA mode
//     where the variation direction goes (11 data fields, Motorola T805,
//     testdata/nmea/motorola-t805.log), and any sentence with one bad field
//     (GPSDO lock flag in GGA quality, jl-micro-jlt.log), and allocates ~8
//     times per sentence: the sentences we need are parsed field by field,
//     so a valid time and date survive a bad field (counted in
//     DecoderStats.Recovered). Without a checksum nothing vouches for a line:
//     it must pass go-nmea's strict parse or it is refused.
//   - go-nmea does not resync on a second '$' inside a line: the Framer cuts
//     at the last one (triton400.log).
//   - go-nmea parsers are not goroutine-safe: each Decoder owns one.
//   - GST, GBS, VTG, TXT, proprietary ($P…) and unknown sentences ($GYOACC)
//     are counted, not errors.
//   - go.bug.st/serial: a read returning (0, nil) is the read timeout, not
//     EOF; an unplugged port returns PortClosed (a closed pty, EIO): the
//     Receiver reopens with backoff and reports DeviceLost in Stats.
//   - Bytes queued before open have no usable arrival time: the input
//     buffer is reset on open and the framer hunts for the next '$'.
//
// # Corpus
//
// testdata/nmea holds real captures from gpsd's regression suite (BSD-2-Clause,
// see its README). TestCorpus checks that every capture yields gpsd's set of
// valid epochs, except where our policy deliberately differs; those
// differences are listed with reasons in corpus_test.go.
package gps
