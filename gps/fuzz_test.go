package gps

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzFramerAssembler feeds arbitrary bytes, in arbitrary chunks with
// arbitrary arrival times, through the whole pipeline (framer, go-nmea
// decoder, assembler). It must not panic, every trusted time must lie in a
// sane range (not before the GPS epoch or the floor, before year 2200), and
// the counters must add up.
func FuzzFramerAssembler(f *testing.F) {
	logs, _ := filepath.Glob("testdata/nmea/*.log")
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			f.Fatal(err)
		}
		c, _ := ParseCapture(b)
		d := c.Data
		if len(d) > 4096 {
			d = d[:4096]
		}
		f.Add(d, uint8(64), int64(0))
	}
	f.Add([]byte(nm("GPRMC,235960.999999,A,4404.1306,N,12118.8515,W,0.03,225.97,311216,,,A")+nm("GPGGA,000000,,,,,1,,,,,,,,")), uint8(7), int64(1e18))
	ls := AppendUBX(nil, UBXNavTimeLS.Class, UBXNavTimeLS.ID, NavTimeLSPayload(18, 1, 86400*10))
	f.Add(append(append([]byte(nm("GPRMC,120000.00,A,4404.1306,N,12118.8515,W,0.03,225.97,201226,,,A")), ls...),
		[]byte(nm("GPRMC,120001.00,A,4404.1306,N,12118.8515,W,0.03,225.97,201226,,,A"))...), uint8(255), int64(0))
	floor := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	upper := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, startNs int64) {
		s := NewStream(floor)
		var fixes []Fix
		step := int(chunk) + 1
		for i := 0; i < len(data); i += step {
			j := min(i+step, len(data))
			fixes = s.Feed(fixes, data[i:j], startNs+int64(i)*1_041_667, 1_041_667)
		}
		fixes = s.Flush(fixes)
		for _, fx := range fixes {
			if fx.TimeValid {
				if fx.Time.Before(floor) || fx.Time.After(upper) {
					t.Fatalf("trusted time %v out of range", fx.Time)
				}
				if fx.Distrust != DistrustNone {
					t.Fatalf("trusted fix with distrust %q", fx.Distrust)
				}
			} else if !fx.Time.IsZero() {
				t.Fatalf("untrusted fix carries time %v", fx.Time)
			}
			if n := fx.Leap; n.Change != 0 && (!n.Known || !n.At.Equal(n.At.Truncate(24*time.Hour))) {
				t.Fatalf("leap notice %+v: a change needs a known midnight", n)
			}
			if fx.Mode < ModeUnknown || fx.Mode > Mode3D || len(fx.Satellites) > maxSatellites {
				t.Fatalf("bad fix %+v", fx)
			}
		}
		st := s.Stats()
		fr := st.Framer
		if fr.Lines != fr.ChecksumOK+fr.NoChecksum || fr.Bytes != uint64(len(data)) {
			t.Fatalf("framer counters do not add up: %+v", fr)
		}
		d := st.Decoder
		if d.Used+d.Unused+d.Proprietary+d.Unknown+d.Rejected != fr.Lines {
			t.Fatalf("decoder counters %+v do not add up to %d lines", d, fr.Lines)
		}
		if st.Assembler.Epochs != uint64(len(fixes)) {
			t.Fatalf("assembler counted %d epochs, emitted %d", st.Assembler.Epochs, len(fixes))
		}
	})
}

// BenchmarkDecode measures the whole pipeline on a real multi-GNSS capture.
func BenchmarkDecode(b *testing.B) {
	raw, err := os.ReadFile("testdata/nmea/ublox-neo-m9n-nmea.log")
	if err != nil {
		b.Fatal(err)
	}
	c, _ := ParseCapture(raw)
	_, st := DecodeCapture(c.Data, FloorFromApproxDate(c.Date))
	lines := float64(st.Framer.Lines)
	b.SetBytes(int64(len(c.Data)))
	b.ReportAllocs()
	b.ResetTimer()
	var fixes []Fix
	for i := 0; i < b.N; i++ {
		s := NewStream(FloorFromApproxDate(c.Date))
		fixes = s.Feed(fixes[:0], c.Data, 0, 0)
	}
	b.StopTimer()
	b.ReportMetric(lines*float64(b.N)/b.Elapsed().Seconds(), "sentences/s")
	b.ReportMetric(float64(testing.AllocsPerRun(3, func() {
		s := NewStream(FloorFromApproxDate(c.Date))
		s.Feed(nil, c.Data, 0, 0)
	}))/lines, "allocs/sentence")
}
