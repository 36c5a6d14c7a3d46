package gps

// MaxLineBytes caps a sentence from '$' to the last checksum digit. NMEA 0183
// allows 82 characters including CR LF, but real receivers exceed it (NMEA
// 4.1 GSV with signal IDs, 24-slot GSA, 8-decimal RTK positions); twice the
// standard is generous and still bounds memory. Longer lines are rejected.
const MaxLineBytes = 164

// ChecksumState says how a framed line's checksum was judged.
type ChecksumState uint8

const (
	ChecksumOK      ChecksumState = iota + 1 // "*hh" present and correct
	ChecksumMissing                          // no '*' at all: accepted only if the sentence parses cleanly
)

// Line is one framed sentence. Text starts at '$' or '!' and excludes the line
// terminator; it is only valid during the callback that receives it.
//
// When UBX is set, the line is a u-blox binary frame whose checksum was
// correct, and Text is its class, ID and payload (without the B5 62 sync,
// the length and the checksum).
type Line struct {
	Text     []byte
	UBX      bool
	Checksum ChecksumState
	// ArrivalNs is the estimated host time (ns) at which Text[0] arrived, as
	// derived from the chunk timing passed to Feed (0 offline). EndNs is the
	// same for the line terminator: EndNs-ArrivalNs is the wire time.
	ArrivalNs int64
	EndNs     int64
	// QuietNs is the longest silence on the line (no byte at all, junk
	// included) between the end of the previous line passed on and this
	// line's start (0 offline). A line lost to junk is not silence: the
	// assembler splits receiver bursts on QuietNs, not on the time since
	// the last good sentence.
	QuietNs int64
}

// FramerStats counts what the framer did with its input. Every byte that
// was part of a line ends up in exactly one of the line outcomes.
type FramerStats struct {
	Bytes       uint64 // bytes fed
	NoiseBytes  uint64 // bytes outside any line (before the first '$', junk between lines)
	Lines       uint64 // lines passed on (ChecksumOK + NoChecksum)
	ChecksumOK  uint64 // lines with a correct "*hh"
	NoChecksum  uint64 // lines without '*', passed on for a strict parse
	BadChecksum uint64 // wrong, truncated or non-hex checksum: rejected
	Overlong    uint64 // longer than MaxLineBytes: rejected
	Binary      uint64 // a NUL or other non-printable byte inside a line: rejected
	Spliced     uint64 // a new '$'/'!' cut an unterminated line short (we resync at the last start)
	Malformed   uint64 // too short or no valid address field: rejected
	UBX         uint64 // u-blox binary frames passed on (checksum correct)
	UBXBad      uint64 // u-blox binary frames with a wrong checksum: rejected
}

// Framer turns a byte stream into NMEA lines. It is pure: timing enters only
// through Feed's arguments. The zero value is ready (hunting for '$').
//
// Rules (gpsd's packet.c does the same resync):
//   - a line starts at '$' or '!'; a start character inside a line discards
//     what came before it, so a line is cut at its last '$' (go-nmea does not
//     resync by itself);
//   - CR, LF or CR LF end a line; empty lines are ignored;
//   - a non-printable byte (NUL, binary protocol junk, a baud mismatch) kills
//     the current line;
//   - the checksum is verified; a line without '*' is passed on marked
//     ChecksumMissing (gpsd accepts those; the decoder then accepts it only
//     if go-nmea parses it without error);
//   - u-blox binary frames (B5 62, class, ID, 16-bit little-endian length,
//     payload, 8-bit Fletcher checksum; u-blox M8 protocol spec §32.2) are
//     taken whole, so a '$' or CR inside their payload starts or ends no
//     line. Only the messages we read are taken (ubxTaken, matched on
//     class, ID and length); for anything else the bytes after B5 are
//     framed again as NMEA.
type Framer struct {
	buf      [MaxLineBytes]byte
	n        int
	inLine   bool
	overlong bool
	startNs  int64
	// lastNs: arrival time of the last byte fed (0: none yet or offline);
	// quietNs: longest silence since the last line was passed on;
	// lineQuietNs: quietNs when the current line started.
	lastNs, quietNs, lineQuietNs int64
	stats                        FramerStats
	// UBX capture: ubxN bytes of a frame so far (0: not in one), its
	// payload length once known, and its start time.
	ubx        [6 + maxUBXPayload + 2]byte
	ubxN       int
	ubxLen     int
	ubxStartNs int64
}

// Reset drops any partial line and hunts for the next '$' (used after
// (re)opening a port: the first partial line is stale).
func (f *Framer) Reset() {
	f.n = 0
	f.inLine = false
	f.overlong = false
	f.ubxN = 0
	f.lastNs, f.quietNs, f.lineQuietNs = 0, 0, 0
}

// Stats returns the counters.
func (f *Framer) Stats() FramerStats { return f.stats }

// Feed frames p. firstByteNs is the estimated arrival time of p[0] and
// byteNs the wire time of one byte (0, 0 offline); emit is called for each
// accepted line, in order.
func (f *Framer) Feed(p []byte, firstByteNs, byteNs int64, emit func(Line)) {
	f.stats.Bytes += uint64(len(p))
	if len(p) == 0 {
		return
	}
	if firstByteNs != 0 && f.lastNs != 0 {
		f.quietNs = max(f.quietNs, firstByteNs-f.lastNs-byteNs)
	}
	if firstByteNs != 0 {
		f.lastNs = firstByteNs + int64(len(p)-1)*byteNs
	}
	for i, b := range p {
		f.feedByte(b, firstByteNs+int64(i)*byteNs, byteNs, emit)
	}
}

// feedByte frames one byte that arrived at ns.
func (f *Framer) feedByte(b byte, ns, byteNs int64, emit func(Line)) {
	if f.ubxN > 0 || b == 0xB5 {
		f.feedUBX(b, ns, byteNs, emit)
		return
	}
	f.feedNMEA(b, ns, emit)
}

// feedNMEA frames one byte that arrived at ns as NMEA.
func (f *Framer) feedNMEA(b byte, ns int64, emit func(Line)) {
	switch {
	case b == '$' || b == '!':
		if f.inLine {
			if f.overlong {
				f.stats.Overlong++
			} else if f.n > 0 {
				f.stats.Spliced++
			}
		}
		f.inLine = true
		f.overlong = false
		f.buf[0] = b
		f.n = 1
		f.startNs = ns
		f.lineQuietNs = f.quietNs
	case b == '\r' || b == '\n':
		if f.inLine {
			f.finish(emit, ns)
		}
		f.inLine = false
	case !f.inLine:
		f.stats.NoiseBytes++
	case b < 0x20 || b > 0x7e:
		f.stats.Binary++
		f.inLine = false
	case f.n >= MaxLineBytes:
		f.overlong = true
	default:
		f.buf[f.n] = b
		f.n++
	}
}

// feedUBX takes one byte of a UBX frame (or the B5 that may start one),
// arriving at ns.
func (f *Framer) feedUBX(b byte, ns, byteNs int64, emit func(Line)) {
	if f.ubxN == 0 {
		// B5: no printable NMEA holds it. A line in progress is dead.
		if f.inLine {
			f.stats.Binary++
			f.inLine = false
		}
		f.ubx[0], f.ubxN, f.ubxStartNs = b, 1, ns
		f.lineQuietNs = f.quietNs
		return
	}
	f.ubx[f.ubxN] = b
	f.ubxN++
	switch {
	case f.ubxN == 2 && b != 0x62:
		f.ubxAbort(ns, byteNs, emit)
		return
	case f.ubxN == 6:
		f.ubxLen = int(f.ubx[4]) | int(f.ubx[5])<<8
		k := UBXKind{Class: f.ubx[2], ID: f.ubx[3], Len: f.ubxLen}
		for _, t := range ubxTaken {
			if k == t {
				return
			}
		}
		f.ubxAbort(ns, byteNs, emit)
		return
	case f.ubxN < 6 || f.ubxN < 6+f.ubxLen+2:
		return
	}
	// Whole frame: checksum over class, ID, length and payload.
	var ckA, ckB byte
	for _, c := range f.ubx[2 : 6+f.ubxLen] {
		ckA += c
		ckB += ckA
	}
	n := f.ubxN
	f.ubxN = 0
	if ckA != f.ubx[n-2] || ckB != f.ubx[n-1] {
		f.stats.UBXBad++
		return
	}
	f.stats.UBX++
	q := f.lineQuietNs
	f.quietNs, f.lineQuietNs = 0, 0
	copy(f.ubx[4:], f.ubx[6:6+f.ubxLen]) // class, ID, payload: contiguous
	text := f.ubx[2 : 4+f.ubxLen]
	emit(Line{Text: text, UBX: true, Checksum: ChecksumOK, ArrivalNs: f.ubxStartNs, EndNs: ns, QuietNs: q})
}

// ubxAbort gives up a frame that is none: its first byte (B5) was noise,
// the rest is framed again as NMEA, in order (the last of them arrived at
// ns).
func (f *Framer) ubxAbort(ns, byteNs int64, emit func(Line)) {
	n := f.ubxN
	f.ubxN = 0
	f.stats.NoiseBytes++
	var again [6]byte
	copy(again[:], f.ubx[1:n])
	for k, c := range again[:n-1] {
		f.feedByte(c, ns-int64(n-2-k)*byteNs, byteNs, emit)
	}
}

func (f *Framer) finish(emit func(Line), endNs int64) {
	if f.overlong {
		f.stats.Overlong++
		return
	}
	line := f.buf[:f.n]
	// Address: at least 3 alphanumerics after the start character, then ',' or '*' or end.
	a := 1
	for a < len(line) && isAlnum(line[a]) {
		a++
	}
	if a < 4 || (a < len(line) && line[a] != ',' && line[a] != '*') {
		f.stats.Malformed++
		return
	}
	star := -1
	for i := len(line) - 1; i > 0; i-- {
		if line[i] == '*' {
			star = i
			break
		}
	}
	st := ChecksumMissing
	if star >= 0 {
		cs := line[star+1:]
		hi, ok1 := unhex(cs, 0)
		lo, ok2 := unhex(cs, 1)
		if len(cs) != 2 || !ok1 || !ok2 {
			f.stats.BadChecksum++
			return
		}
		var x byte
		for _, c := range line[1:star] {
			x ^= c
		}
		if x != hi<<4|lo {
			f.stats.BadChecksum++
			return
		}
		st = ChecksumOK
		f.stats.ChecksumOK++
	} else {
		f.stats.NoChecksum++
	}
	f.stats.Lines++
	q := f.lineQuietNs
	f.quietNs, f.lineQuietNs = 0, 0
	emit(Line{Text: line, Checksum: st, ArrivalNs: f.startNs, EndNs: endNs, QuietNs: q})
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func unhex(s []byte, i int) (byte, bool) {
	if i >= len(s) {
		return 0, false
	}
	c := s[i]
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
