package ntpserve

import (
	"encoding/binary"
	"errors"
)

// HeaderLen is the length of the NTPv4 header without extension fields or
// MAC (RFC 5905 section 7.3, figure 8).
const HeaderLen = 48

// Modes on the wire (RFC 5905 section 7.3).
const (
	ModeReserved   = 0
	ModeSymActive  = 1
	ModeSymPassive = 2
	ModeClient     = 3
	ModeServer     = 4
	ModeBroadcast  = 5
	ModeControl    = 6 // ntpq (RFC 9327)
	ModePrivate    = 7 // ntpdc (monlist: the amplification vector)
)

const (
	unixToNTPSeconds  = 2208988800 // 1900-01-01 to 1970-01-01 in seconds
	nsPerSecond       = 1_000_000_000
	maxShortNs        = (1<<32 - 1) * nsPerSecond >> 16 // 65535.99998 s
	fracPerNsRounding = nsPerSecond / 2
)

// ErrShort is returned by Header.Decode for a packet shorter than HeaderLen.
var ErrShort = errors.New("ntp: packet shorter than 48 bytes")

// Timestamp is the 64-bit NTP timestamp format (RFC 5905 section 6): 32
// bits of seconds since the start of the NTP era and 32 bits of fraction.
// Era 0 began 1900-01-01T00:00:00Z, era 1 begins 2036-02-07T06:28:16Z; the
// era number is not on the wire, so decoding needs a pivot time.
type Timestamp uint64

// TimestampFromUnixNs converts ns since the Unix epoch (UTC, no leap
// seconds) to an NTP timestamp, rounding to the nearest 2^-32 s. Times from
// 2036-02-07T06:28:16Z on wrap into era 1, as RFC 5905 requires.
func TimestampFromUnixNs(ns int64) Timestamp {
	sec := ns / nsPerSecond
	rem := ns % nsPerSecond
	if rem < 0 {
		sec--
		rem += nsPerSecond
	}
	frac := (uint64(rem)<<32 + fracPerNsRounding) / nsPerSecond // ≤ 2^32: carry is fine
	// uint64(sec+offset)<<32 keeps the low 32 bits of seconds: the era is
	// dropped here and only here.
	return Timestamp(uint64(sec+unixToNTPSeconds)<<32 + frac)
}

// Seconds returns the era-relative seconds field.
func (t Timestamp) Seconds() uint32 { return uint32(t >> 32) }

// Fraction returns the fraction field in units of 2^-32 s.
func (t Timestamp) Fraction() uint32 { return uint32(t) }

// UnixNs converts t to ns since the Unix epoch, choosing the NTP era that
// puts the result within 68 years of pivotNs (ns since the Unix epoch; pass
// the current time). This is what makes timestamps decode correctly on both
// sides of 2036-02-07.
func (t Timestamp) UnixNs(pivotNs int64) int64 {
	pivotSec := floorDiv(pivotNs, nsPerSecond) + unixToNTPSeconds
	// Signed 32-bit difference: the nearest era to the pivot.
	diff := int64(int32(t.Seconds() - uint32(pivotSec)))
	sec := pivotSec + diff - unixToNTPSeconds
	fracNs := (uint64(t.Fraction())*nsPerSecond + 1<<31) >> 32
	return sec*nsPerSecond + int64(fracNs)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Short is the 32-bit NTP short format (RFC 5905 section 6): 16 bits of
// seconds and 16 bits of fraction, used for root delay and root dispersion.
type Short uint32

// ShortFromNs converts a duration in ns to the short format, rounding up
// (these fields are error bounds and must never be understated) and
// saturating at 0 and at 65535.99998 s.
func ShortFromNs(ns int64) Short {
	if ns <= 0 {
		return 0
	}
	if ns >= maxShortNs {
		return 1<<32 - 1
	}
	return Short((uint64(ns)<<16 + nsPerSecond - 1) / nsPerSecond)
}

// Ns converts the short format to ns, rounding to nearest.
func (s Short) Ns() int64 {
	return int64((uint64(s)*nsPerSecond + 1<<15) >> 16)
}

// Header is the 48-byte NTP packet header (RFC 5905 section 7.3). The
// fields are plain values; Encode and Decode work on caller buffers and do
// not allocate.
type Header struct {
	Leap           uint8 // 0..3, 3 = alarm (clock unsynchronised)
	Version        uint8 // 0..7
	Mode           uint8 // 0..7
	Stratum        uint8
	Poll           int8 // log2 s
	Precision      int8 // log2 s
	RootDelay      Short
	RootDispersion Short
	RefID          [4]byte
	RefTime        Timestamp
	Origin         Timestamp
	Receive        Timestamp
	Transmit       Timestamp
}

// Decode fills h from the first 48 bytes of b. Extension fields and MACs
// after the header are ignored. It returns ErrShort if b is too short.
func (h *Header) Decode(b []byte) error {
	if len(b) < HeaderLen {
		return ErrShort
	}
	_ = b[47]
	h.Leap = b[0] >> 6
	h.Version = b[0] >> 3 & 7
	h.Mode = b[0] & 7
	h.Stratum = b[1]
	h.Poll = int8(b[2])
	h.Precision = int8(b[3])
	h.RootDelay = Short(binary.BigEndian.Uint32(b[4:]))
	h.RootDispersion = Short(binary.BigEndian.Uint32(b[8:]))
	copy(h.RefID[:], b[12:16])
	h.RefTime = Timestamp(binary.BigEndian.Uint64(b[16:]))
	h.Origin = Timestamp(binary.BigEndian.Uint64(b[24:]))
	h.Receive = Timestamp(binary.BigEndian.Uint64(b[32:]))
	h.Transmit = Timestamp(binary.BigEndian.Uint64(b[40:]))
	return nil
}

// Encode writes h into the first 48 bytes of b and returns 48, or returns 0
// and writes nothing if b is shorter than that.
func (h *Header) Encode(b []byte) int {
	if len(b) < HeaderLen {
		return 0
	}
	_ = b[47]
	b[0] = h.Leap<<6 | (h.Version&7)<<3 | h.Mode&7
	b[1] = h.Stratum
	b[2] = byte(h.Poll)
	b[3] = byte(h.Precision)
	binary.BigEndian.PutUint32(b[4:], uint32(h.RootDelay))
	binary.BigEndian.PutUint32(b[8:], uint32(h.RootDispersion))
	copy(b[12:16], h.RefID[:])
	binary.BigEndian.PutUint64(b[16:], uint64(h.RefTime))
	binary.BigEndian.PutUint64(b[24:], uint64(h.Origin))
	binary.BigEndian.PutUint64(b[32:], uint64(h.Receive))
	binary.BigEndian.PutUint64(b[40:], uint64(h.Transmit))
	return HeaderLen
}

// putTransmit overwrites the transmit timestamp of an encoded header. The
// server calls it as the very last step before the send, so the timestamp is
// as close to the packet's departure as user space allows (RFC 5905 section
// 8: the transmit timestamp should be taken as late as possible).
func putTransmit(b []byte, t Timestamp) {
	binary.BigEndian.PutUint64(b[40:48], uint64(t))
}
