package ntpserve

import (
	"testing"
	"time"
)

// era1Start is 2036-02-07T06:28:16Z, where the 32-bit NTP seconds wrap.
var era1Start = time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC).UnixNano()

func TestTimestampFromUnixNs(t *testing.T) {
	tests := []struct {
		name string
		ns   int64
		want Timestamp
	}{
		{"unix epoch", 0, Timestamp(uint64(2208988800) << 32)},
		{"half second", 500_000_000, Timestamp(uint64(2208988800)<<32 | 1<<31)},
		{"ntp era 0 start", -2208988800 * nsPerSecond, 0},
		{"last second of era 0", era1Start - nsPerSecond, Timestamp(uint64(0xFFFFFFFF) << 32)},
		{"era 1 start", era1Start, 0},
		{"era 1 plus 1.25 s", era1Start + 1_250_000_000, Timestamp(1<<32 | 1<<30)},
		{"before unix epoch", -1, Timestamp(uint64(2208988800-1)<<32 | 0xFFFFFFFC)},
		{"2026", time.Date(2026, 11, 26, 1, 35, 0, 0, time.UTC).UnixNano(), Timestamp(uint64(0xEEB20B44) << 32)},
	}
	for _, tt := range tests {
		if got := TimestampFromUnixNs(tt.ns); got != tt.want {
			t.Errorf("%s: TimestampFromUnixNs(%d) = %#016x, want %#016x", tt.name, tt.ns, uint64(got), uint64(tt.want))
		}
	}
}

func TestTimestampUnixNsEras(t *testing.T) {
	// Round trips across the 2036 boundary with pivots on either side: the
	// era is recovered from the pivot, the error is below 1 ns.
	times := []int64{
		0,
		time.Date(2026, 1, 1, 0, 0, 0, 123_456_789, time.UTC).UnixNano(),
		era1Start - 1,
		era1Start,
		era1Start + 1,
		era1Start + 999_999_999,
		time.Date(2040, 6, 1, 12, 0, 0, 1, time.UTC).UnixNano(),
		time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(),
	}
	for _, ns := range times {
		for _, pivotOffset := range []time.Duration{0, -30 * 365 * 24 * time.Hour, 30 * 365 * 24 * time.Hour} {
			pivot := ns + int64(pivotOffset)
			got := TimestampFromUnixNs(ns).UnixNs(pivot)
			if d := got - ns; d < -1 || d > 1 {
				t.Errorf("TimestampFromUnixNs(%d).UnixNs(%d) = %d, want %d (±1)", ns, pivot, got, ns)
			}
		}
	}
}

func TestTimestampEraBoundaryOrdering(t *testing.T) {
	// Just before and just after the wrap, decoded with a pivot in 2036,
	// keep their order and 2 ns distance.
	before := TimestampFromUnixNs(era1Start - 1)
	after := TimestampFromUnixNs(era1Start + 1)
	if before < after {
		t.Fatalf("raw timestamps should wrap: before %#x after %#x", uint64(before), uint64(after))
	}
	d := after.UnixNs(era1Start) - before.UnixNs(era1Start)
	if d < 1 || d > 3 {
		t.Errorf("decoded distance across 2036 = %d ns, want 2", d)
	}
}

func TestShortFromNs(t *testing.T) {
	tests := []struct {
		ns   int64
		want Short
	}{
		{-5, 0},
		{0, 0},
		{1, 1}, // rounds up: a bound is never understated
		{nsPerSecond, 1 << 16},
		{nsPerSecond / 2, 1 << 15},
		{65535 * nsPerSecond, 65535 << 16},
		{70000 * nsPerSecond, 0xFFFFFFFF},
	}
	for _, tt := range tests {
		if got := ShortFromNs(tt.ns); got != tt.want {
			t.Errorf("ShortFromNs(%d) = %#x, want %#x", tt.ns, uint32(got), uint32(tt.want))
		}
	}
	if got := Short(1 << 16).Ns(); got != nsPerSecond {
		t.Errorf("Short(1<<16).Ns() = %d, want %d", got, nsPerSecond)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{
		Leap: 1, Version: 4, Mode: ModeServer, Stratum: 1, Poll: 6, Precision: -23,
		RootDelay: 0x00000012, RootDispersion: 0x00010203, RefID: [4]byte{'P', 'P', 'S', 0},
		RefTime: 0x0102030405060708, Origin: 0x1112131415161718,
		Receive: 0x2122232425262728, Transmit: 0x3132333435363738,
	}
	b := make([]byte, 60)
	if n := h.Encode(b); n != HeaderLen {
		t.Fatalf("Encode = %d, want %d", n, HeaderLen)
	}
	if b[0] != 0x64 || b[3] != 0xE9 {
		t.Errorf("first word = % x, want 64 01 06 e9", b[:4])
	}
	var g Header
	if err := g.Decode(b); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if g != h {
		t.Errorf("Decode(Encode(h)) = %+v, want %+v", g, h)
	}
	if err := g.Decode(b[:47]); err != ErrShort {
		t.Errorf("Decode(47 bytes) = %v, want ErrShort", err)
	}
	if n := h.Encode(b[:47]); n != 0 {
		t.Errorf("Encode(47 bytes) = %d, want 0", n)
	}
}

func TestWireAllocs(t *testing.T) {
	b := make([]byte, HeaderLen)
	var h Header
	ns := time.Now().UnixNano()
	allocs := testing.AllocsPerRun(1000, func() {
		h.Transmit = TimestampFromUnixNs(ns)
		h.RootDispersion = ShortFromNs(ns & 0xFFFFFF)
		h.Encode(b)
		_ = h.Decode(b)
		ns += int64(h.Transmit.UnixNs(ns) & 1)
	})
	if allocs != 0 {
		t.Errorf("encode/decode allocs = %v, want 0", allocs)
	}
}
