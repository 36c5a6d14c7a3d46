package ntpserve

import (
	"bytes"
	"testing"
	"time"
)

// FuzzHeaderDecode feeds arbitrary datagrams to Header.Decode. It must not
// panic; a short one is refused with ErrShort and leaves the header as it
// was; what decodes holds fields in range, encodes back to the very 48
// bytes it came from (every bit of the header is a field) and decodes to
// the same Header again. The timestamps decode within 68 years of any
// pivot and convert back to the wire value within rounding, and the
// short-format fields convert to ns and back without understating.
func FuzzHeaderDecode(f *testing.F) {
	f.Add(request(4, ModeClient, 6, TimestampFromUnixNs(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano())), int64(0))
	f.Add(request(3, ModeClient, 10, 0), int64(era1Start))
	f.Add(append(request(4, ModeClient, 17, 1<<63), make([]byte, 20)...), int64(-1)) // with a MAC
	f.Add(request(1, ModeReserved, 0, 0xFFFFFFFF_FFFFFFFF), int64(1<<62))
	f.Add(request(2, ModePrivate, 0, 1), int64(-1<<62))
	f.Add(make([]byte, 47), int64(0))
	f.Add([]byte{}, int64(0))
	reply := make([]byte, HeaderLen)
	h := Header{Leap: 3, Version: 4, Mode: ModeServer, RootDelay: 0x00010000, RootDispersion: 0xFFFFFFFF,
		RefID: [4]byte{'G', 'P', 'S', 0}, RefTime: 1, Origin: 2, Receive: 3, Transmit: 4}
	h.Encode(reply)
	f.Add(reply, int64(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()))

	// Pivots are kept within 200 years of 1970 so that pivot ± 68 years
	// stays inside int64 ns (1678..2262).
	const pivotSpanNs = 200 * 365 * 24 * int64(time.Hour)
	f.Fuzz(func(t *testing.T, b []byte, pivotNs int64) {
		pivotNs %= pivotSpanNs
		sentinel := Header{Stratum: 99, RefID: [4]byte{'X', 'X', 'X', 'X'}, Transmit: 42}
		h := sentinel
		if err := h.Decode(b); len(b) < HeaderLen {
			if err != ErrShort || h != sentinel {
				t.Fatalf("Decode(%d bytes) = %v, header %+v; want ErrShort and the header untouched", len(b), err, h)
			}
			return
		} else if err != nil {
			t.Fatalf("Decode(%d bytes) = %v, want nil", len(b), err)
		}
		if h.Leap > 3 || h.Version > 7 || h.Mode > 7 {
			t.Fatalf("Decode: leap %d version %d mode %d out of range", h.Leap, h.Version, h.Mode)
		}
		out := make([]byte, HeaderLen+8)
		if n := h.Encode(out); n != HeaderLen {
			t.Fatalf("Encode = %d, want %d", n, HeaderLen)
		}
		if !bytes.Equal(out[:HeaderLen], b[:HeaderLen]) {
			t.Fatalf("Encode(Decode(b)) = % x\nwant            % x", out[:HeaderLen], b[:HeaderLen])
		}
		if !bytes.Equal(out[HeaderLen:], make([]byte, 8)) {
			t.Fatalf("Encode wrote past 48 bytes: % x", out[HeaderLen:])
		}
		var g Header
		if err := g.Decode(out); err != nil || g != h {
			t.Fatalf("Decode(Encode(h)) = %+v, %v; want %+v", g, err, h)
		}
		for _, ts := range []Timestamp{h.RefTime, h.Origin, h.Receive, h.Transmit} {
			ns := ts.UnixNs(pivotNs)
			// Within half an era (2^31 s) of the pivot, plus the fraction.
			if d := ns - pivotNs; d < -(1<<31+1)*nsPerSecond || d > (1<<31+1)*nsPerSecond {
				t.Fatalf("%#016x.UnixNs(%d) = %d: %d s from the pivot, want within 2^31", uint64(ts), pivotNs, ns, d/nsPerSecond)
			}
			// ns → timestamp rounds to 2^-32 s, timestamp → ns to 1 ns: back
			// within 3 units of 2^-32 s (0.7 ns), modulo the era.
			if d := int64(TimestampFromUnixNs(ns) - ts); d < -3 || d > 3 {
				t.Fatalf("TimestampFromUnixNs(%#016x.UnixNs(%d)) = %#016x, %d units off", uint64(ts), pivotNs, uint64(TimestampFromUnixNs(ns)), d)
			}
		}
		for _, s := range []Short{h.RootDelay, h.RootDispersion} {
			// ShortFromNs rounds up (an error bound is never understated),
			// Ns to nearest: back to s or one unit (15 µs) above it.
			if back := ShortFromNs(s.Ns()); back != s && back != s+1 {
				t.Fatalf("ShortFromNs(%#08x.Ns() = %d) = %#08x, want %#08x or one more", uint32(s), s.Ns(), uint32(back), uint32(s))
			}
		}
	})
}
