package gps

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

// framed is one line the framer passed on, copied out of its callback.
type framed struct {
	text string
	ubx  bool
}

func (l framed) String() string {
	if l.ubx {
		return fmt.Sprintf("UBX % x", l.text)
	}
	return fmt.Sprintf("%q", l.text)
}

func frameAll(data []byte, chunk int) ([]framed, FramerStats) {
	var f Framer
	var out []framed
	for i := 0; i < len(data); i += chunk {
		f.Feed(data[i:min(i+chunk, len(data))], 0, 0, func(l Line) {
			out = append(out, framed{string(l.Text), l.UBX})
		})
	}
	return out, f.Stats()
}

// ubxSeeds are realistic inputs for the UBX path: NAV-TIMELS frames as
// receivers send them, between sentences, cut, corrupted, and B5 62 that
// name other messages.
func ubxSeeds() [][]byte {
	rmc := []byte(nm("GPRMC,235959.00,A,5212.318,N,00007.308,E,0.0,0.0,311216,,,A"))
	ls := navTimeLS(18, 1, 0x0a0d2400) // '$', CR, LF inside the payload
	bad := bytes.Clone(ls)
	bad[12] ^= 1
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return [][]byte{
		cat(rmc, ls, rmc),
		cat(rmc, navTimeLS(17, 0, -1), rmc, bad, rmc),
		cat(rmc, AppendUBX(nil, 0x01, 0x07, make([]byte, 92)), rmc), // NAV-PVT: not taken
		cat(ls[:10], rmc, ls),                                       // a cut frame swallows the sentence after it
		cat([]byte{0xB5, 0xB5, 0x62, 0x01, 0x26, 0x18, 0x00}, rmc),
		cat([]byte{0xB5, 0x62, 0x01, 0x26, 0xFF, 0xFF}, rmc), // right class and ID, absurd length
		cat(ls, ls, ls),
	}
}

// FuzzFramerUBX feeds arbitrary bytes to the framer, whose UBX path takes
// binary frames whole. It must not panic, and:
//   - the lines passed on do not depend on how the input is chunked;
//   - every UBX line is a message we read (ubxTaken), and the frame it came
//     from, checksum and all, is in the input;
//   - every NMEA line starts at '$' or '!', is printable and no longer
//     than MaxLineBytes;
//   - the counters match what was passed on;
//   - any NAV-TIMELS payload (the fuzzed bytes, cut or padded to 24)
//     between two sentences comes out whole, and costs neither sentence,
//     whatever it holds ('$', CR, LF, B5 62).
func FuzzFramerUBX(f *testing.F) {
	for _, s := range ubxSeeds() {
		f.Add(s, uint8(0))
		f.Add(s, uint8(6))
	}
	rmc := []byte(nm("GPRMC,120000.00,A,5212.318,N,00007.308,E,0.0,0.0,201216,,,A"))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		whole, st := frameAll(data, max(len(data), 1))
		chunked, stc := frameAll(data, int(chunk)+1)
		if fmt.Sprint(whole) != fmt.Sprint(chunked) || st != stc {
			t.Fatalf("fed in %d-byte chunks: %v, %+v\nfed whole:          %v, %+v", int(chunk)+1, chunked, stc, whole, st)
		}
		var nUBX, nNMEA uint64
		for _, l := range whole {
			if l.ubx {
				nUBX++
				if len(l.text) < 2 {
					t.Fatalf("UBX line % x shorter than class and ID", l.text)
				}
				k := UBXKind{Class: l.text[0], ID: l.text[1], Len: len(l.text) - 2}
				taken := false
				for _, u := range ubxTaken {
					taken = taken || k == u
				}
				if !taken {
					t.Fatalf("UBX line %+v is not a message we read", k)
				}
				if frame := AppendUBX(nil, l.text[0], l.text[1], []byte(l.text[2:])); !bytes.Contains(data, frame) {
					t.Fatalf("UBX frame % x passed on is not in the input", frame)
				}
				continue
			}
			nNMEA++
			if len(l.text) == 0 || (l.text[0] != '$' && l.text[0] != '!') || len(l.text) > MaxLineBytes {
				t.Fatalf("NMEA line %q", l.text)
			}
			for i := 0; i < len(l.text); i++ {
				if c := l.text[i]; c < 0x20 || c > 0x7E {
					t.Fatalf("NMEA line %q holds byte %#02x", l.text, c)
				}
			}
		}
		if st.UBX != nUBX || st.Lines != nNMEA || st.Bytes != uint64(len(data)) {
			t.Fatalf("stats %+v; passed on %d UBX and %d NMEA lines of %d bytes", st, nUBX, nNMEA, len(data))
		}

		payload := make([]byte, UBXNavTimeLS.Len)
		copy(payload, data)
		in := bytes.Join([][]byte{rmc, AppendUBX(nil, UBXNavTimeLS.Class, UBXNavTimeLS.ID, payload), rmc}, nil)
		got, _ := frameAll(in, int(chunk)+1)
		want := []framed{
			{string(bytes.TrimRight(rmc, "\r\n")), false},
			{string(append([]byte{UBXNavTimeLS.Class, UBXNavTimeLS.ID}, payload...)), true},
			{string(bytes.TrimRight(rmc, "\r\n")), false},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("NAV-TIMELS % x between sentences: got %v, want %v", payload, got, want)
		}
	})
}

// FuzzNavTimeLS decodes arbitrary NAV-TIMELS payloads in a stream of good
// fixes. It must not panic, the frame must disturb none of the fixes, and
// the notice carried by the fix it came with and every fix after it must say what the payload says
// within the rules: a count only when marked valid, a change only from a
// source with a valid time to the event, ±1 or 0, at a UTC midnight
// within half a day of the announced moment.
func FuzzNavTimeLS(f *testing.F) {
	at := time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Date(2016, 12, 20, 12, 0, 0, 0, time.UTC)
	f.Add(NavTimeLSPayload(17, 1, int32(at.Sub(now.Add(time.Second))/time.Second)))
	f.Add(NavTimeLSPayload(18, 0, -1000))
	f.Add(NavTimeLSPayload(18, -1, 3600))
	f.Add(NavTimeLSPayload(-128, 1, 1<<31-1))
	notValid := NavTimeLSPayload(17, 1, 1000)
	notValid[23] = 1
	f.Add(notValid)
	noSource := NavTimeLSPayload(17, 1, 1000)
	noSource[10] = 0
	f.Add(noSource)
	f.Add([]byte{})
	burst := func(tod string) []byte {
		return []byte(nm("GPRMC,"+tod+".00,A,5212.318,N,00007.308,E,0.0,0.0,201216,,,A") +
			nm("GPGGA,"+tod+".00,5212.318,N,00007.308,E,1,08,1.0,15.0,M,45.0,M,,"))
	}
	tods := []string{"120000", "120001", "120002", "120003", "120004"}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := make([]byte, UBXNavTimeLS.Len)
		copy(p, data)
		s := NewStream(time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC))
		var fixes []Fix
		fixes = s.Feed(fixes, burst(tods[0]), 0, 0)
		fixes = s.Feed(fixes, AppendUBX(nil, UBXNavTimeLS.Class, UBXNavTimeLS.ID, p), 0, 0)
		for _, tod := range tods[1:] {
			fixes = s.Feed(fixes, burst(tod), 0, 0)
		}
		fixes = s.Flush(fixes)
		if len(fixes) != len(tods) {
			t.Fatalf("%d fixes, want %d", len(fixes), len(tods))
		}
		if st := s.Stats(); st.Assembler.LeapNotices != 1 || st.Framer.UBX != 1 {
			t.Fatalf("stats %+v, want one UBX frame and one leap notice", st)
		}
		valid := p[23]
		tteS := int64(int32(binary.LittleEndian.Uint32(p[12:16])))
		for i, fx := range fixes {
			if want := now.Add(time.Duration(i) * time.Second); !fx.TimeValid || !fx.Time.Equal(want) {
				t.Fatalf("fix %d: time %v valid %v, want %v valid", i, fx.Time, fx.TimeValid, want)
			}
			// Offline, the epoch of 12:00:00 ends only when 12:00:01
			// starts, after the frame: the frame came with it, so it and
			// every fix after it carry the same notice.
			n := fx.Leap
			if n != fixes[0].Leap {
				t.Fatalf("fix %d carries %+v, fix 0 %+v: want the same notice", i, n, fixes[0].Leap)
			}
			wantCount := 0
			if valid&1 != 0 {
				wantCount = int(int8(p[9]))
			}
			if n.GPSMinusUTCS != wantCount {
				t.Fatalf("fix %d: GPS−UTC %d s, want %d (valid %#02x, currLs %d)", i, n.GPSMinusUTCS, wantCount, valid, int8(p[9]))
			}
			if n.Known && (p[10] == 0 || valid&2 == 0) {
				t.Fatalf("fix %d: %+v known without a source (%d) or a valid time to the event (valid %#02x)", i, n, p[10], valid)
			}
			switch {
			case n.Change == 0:
				if !n.At.IsZero() {
					t.Fatalf("fix %d: no change but at %v", i, n.At)
				}
			case n.Change == 1 || n.Change == -1:
				if !n.Known || int(int8(p[11])) != n.Change || tteS <= 0 {
					t.Fatalf("fix %d: change %+d from lsChange %d, known %v, time to event %d s", i, n.Change, int8(p[11]), n.Known, tteS)
				}
				if !n.At.Equal(n.At.Truncate(24 * time.Hour)) {
					t.Fatalf("fix %d: leap at %v, not a midnight", i, n.At)
				}
				// The seconds to the event count from the epoch the frame
				// came with.
				if d := n.At.Sub(now.Add(time.Duration(tteS) * time.Second)); d < -12*time.Hour || d > 12*time.Hour {
					t.Fatalf("fix %d: leap at %v, %v from the announced moment", i, n.At, d)
				}
			default:
				t.Fatalf("fix %d: change %d", i, n.Change)
			}
		}
	})
}
