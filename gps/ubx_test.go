package gps

import (
	"bytes"
	"testing"
	"time"
)

func navTimeLS(gpsMinusUTCS, change int, toEventS int32) []byte {
	return AppendUBX(nil, UBXNavTimeLS.Class, UBXNavTimeLS.ID, NavTimeLSPayload(gpsMinusUTCS, change, toEventS))
}

// TestFramerUBX: a NAV-TIMELS frame between sentences is taken whole even
// when its payload holds '$', CR and LF, and the sentences around it are
// intact; a corrupted frame is counted and costs no sentence after it; a
// B5 62 that names another message (or is line noise) is NMEA junk and
// costs nothing after it either.
func TestFramerUBX(t *testing.T) {
	rmc := []byte(nm("GPRMC,235959.00,A,5212.318,N,00007.308,E,0.0,0.0,311216,,,A"))
	// toEventS 0x0a0d2400: bytes 00 24 0D 0A ('$', CR, LF) in the payload.
	ls := navTimeLS(18, 1, 0x0a0d2400)
	if !bytes.Contains(ls, []byte("$\r\n")) {
		t.Fatalf("test frame % X does not hold $ CR LF", ls)
	}
	bad := append([]byte(nil), ls...)
	bad[10] ^= 0x40
	other := AppendUBX(nil, 0x01, 0x07, make([]byte, 92)) // NAV-PVT: not read
	noise := []byte{0xB5, 0x62, 0x01, 0x26}               // cut short by the next sentence
	var in []byte
	for _, part := range [][]byte{rmc, ls, rmc, bad, rmc, other, rmc, noise, rmc, {0xB5}, ls, rmc} {
		in = append(in, part...)
	}
	for _, chunk := range []int{1, 7, len(in)} { // byte by byte, odd chunks, whole
		var f Framer
		var lines, frames int
		for i := 0; i < len(in); i += chunk {
			f.Feed(in[i:min(i+chunk, len(in))], 0, 0, func(l Line) {
				switch {
				case l.UBX:
					frames++
					if !bytes.Equal(l.Text, append([]byte{0x01, 0x26}, ls[6:6+24]...)) {
						t.Errorf("UBX line % X", l.Text)
					}
				case bytes.HasPrefix(l.Text, []byte("$GPRMC")):
					lines++
				default:
					t.Errorf("chunk %d: unexpected line %q", chunk, l.Text)
				}
			})
		}
		st := f.Stats()
		if lines != 6 || frames != 2 || st.UBX != 2 || st.UBXBad != 1 {
			t.Errorf("chunk %d: %d RMC lines, %d NAV-TIMELS frames, stats %+v; want 6, 2, UBX 2, UBXBad 1", chunk, lines, frames, st)
		}
	}
}

// TestStreamLeapNotice: a receiver announcing an inserted leap second at the
// end of 2016 (as GPS did from mid 2016) puts it in every fix from the
// epoch it came with; one announcing none, or without a valid time to the event,
// announces nothing.
func TestStreamLeapNotice(t *testing.T) {
	burst := func(tod string, date string) []byte {
		return []byte(nm("GPRMC,"+tod+".00,A,5212.318,N,00007.308,E,0.0,0.0,"+date+",,,A") +
			nm("GPGGA,"+tod+".00,5212.318,N,00007.308,E,1,08,1.0,15.0,M,45.0,M,,"))
	}
	at := time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		frame  []byte
		change int
		known  bool
	}{
		{"insert announced", navTimeLS(17, 1, int32(at.Sub(time.Date(2016, 12, 20, 12, 0, 1, 0, time.UTC))/time.Second)), 1, true},
		{"none scheduled", navTimeLS(18, 0, -1000), 0, true},
		{"time to event not valid", func() []byte {
			p := NavTimeLSPayload(17, 1, 1000)
			p[23] = 1
			return AppendUBX(nil, 0x01, 0x26, p)
		}(), 0, false},
	} {
		s := NewStream(time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC))
		var fixes []Fix
		fixes = s.Feed(fixes, burst("120000", "201216"), 0, 0)
		fixes = s.Feed(fixes, c.frame, 0, 0)
		for _, tod := range []string{"120001", "120002", "120003", "120004"} {
			fixes = s.Feed(fixes, burst(tod, "201216"), 0, 0)
		}
		fixes = s.Flush(fixes)
		if len(fixes) != 5 {
			t.Fatalf("%s: %d fixes, want 5", c.name, len(fixes))
		}
		for _, f := range fixes[1:] {
			n := f.Leap
			if n.Known != c.known || n.Change != c.change {
				t.Errorf("%s: %v: leap notice %+v, want known %v change %+d", c.name, f.Time, n, c.known, c.change)
			}
			if c.change != 0 && !n.At.Equal(at) {
				t.Errorf("%s: leap at %v, want %v", c.name, n.At, at)
			}
		}
		if st := s.Stats(); st.Assembler.LeapNotices != 1 || st.Framer.UBX != 1 {
			t.Errorf("%s: stats %+v", c.name, st)
		}
	}
}
