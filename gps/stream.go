package gps

import "time"

// StreamStats are the counters of every stage of a Stream.
type StreamStats struct {
	Framer    FramerStats
	Decoder   DecoderStats
	Assembler AssemblerStats
}

// Stream is the whole decoding pipeline the daemon runs on a serial byte
// stream, and gpsntpctl decode runs on a capture: Framer → Decoder →
// Assembler. It is pure (arrival times are arguments) and not goroutine-safe.
type Stream struct {
	fr   Framer
	dec  *Decoder
	asm  *Assembler
	out  []Fix
	emit func(Line)
	// rejected is the count of damaged lines (framer and decoder
	// rejections) already reported to the assembler.
	rejected uint64
	// quietNs: the longest Line.QuietNs since the last sentence the
	// assembler got.
	quietNs int64
}

// NewStream returns a pipeline whose two-digit years pivot at
// PivotYear(floor) and whose dates unfold GPS week rollovers against floor
// (zero: DefaultReferenceDate).
func NewStream(floor time.Time) *Stream { return newStream(floor, 0) }

// newStream is NewStream splitting bursts at burstGap (0: DefaultBurstGap).
func newStream(floor time.Time, burstGap time.Duration) *Stream {
	if floor.IsZero() {
		floor = DefaultReferenceDate
	}
	s := &Stream{dec: NewDecoder(floor), asm: NewAssembler(floor, burstGap)}
	s.emit = s.onLine
	return s
}

func (s *Stream) onLine(l Line) {
	if l.UBX {
		s.asm.ubx(l.Text)
		s.quietNs = max(s.quietNs, l.QuietNs)
		return
	}
	sen, ok := s.dec.Decode(l)
	s.asm.model = s.dec.model
	s.noteDamage()
	// Silence before a line the assembler does not get (proprietary, VTG)
	// is silence before the next one it does.
	s.quietNs = max(s.quietNs, l.QuietNs)
	if ok {
		sen.QuietNs, s.quietNs = s.quietNs, 0
		s.out = s.asm.Add(s.out, &sen)
	}
}

// Feed decodes p and appends completed epochs to dst. firstByteNs is the
// host time the first byte of p arrived and byteNs the wire time of a byte
// (both 0 offline).
func (s *Stream) Feed(dst []Fix, p []byte, firstByteNs, byteNs int64) []Fix {
	s.out = dst
	s.fr.Feed(p, firstByteNs, byteNs, s.emit)
	dst, s.out = s.out, nil
	return dst
}

// Flush emits the epoch in progress (end of input, or the line went quiet).
func (s *Stream) Flush(dst []Fix) []Fix {
	s.noteDamage()
	return s.asm.Flush(dst)
}

// noteDamage tells the assembler when lines were lost to garbage since the
// last call: the epoch they belonged to must not teach the cycle.
func (s *Stream) noteDamage() {
	f := &s.fr.stats
	n := f.BadChecksum + f.Overlong + f.Binary + f.Spliced + f.Malformed + s.dec.stats.Rejected
	if n != s.rejected {
		s.rejected = n
		s.asm.damaged = true
	}
}

// Resync drops a partial line and the epoch in progress (port reopened).
func (s *Stream) Resync() {
	s.fr.Reset()
	s.quietNs = 0
	s.asm.Reset()
}

// Stats returns all counters.
func (s *Stream) Stats() StreamStats {
	return StreamStats{Framer: s.fr.Stats(), Decoder: s.dec.Stats(), Assembler: s.asm.Stats()}
}

// pending reports whether an epoch is in progress.
func (s *Stream) pending() bool { return s.asm.cur.nSentences > 0 }
