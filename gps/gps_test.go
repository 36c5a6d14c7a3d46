package gps

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// nm wraps a sentence body in "$…*hh\r\n".
func nm(body string) string {
	var x byte
	for i := 0; i < len(body); i++ {
		x ^= body[i]
	}
	return fmt.Sprintf("$%s*%02X\r\n", body, x)
}

func feedLines(s string) ([]string, FramerStats) {
	var f Framer
	var got []string
	f.Feed([]byte(s), 0, 0, func(l Line) {
		got = append(got, fmt.Sprintf("%s|%d", l.Text, l.Checksum))
	})
	return got, f.Stats()
}

func TestFramer(t *testing.T) {
	gga := "GPGGA,202640.000,4404.1306,N,12118.8515,W,2,10,0.98,1127.7,M,-19.6,M,0000,0000"
	ggaLine := "$" + strings.TrimSuffix(nm(gga)[1:], "\r\n")
	long := "GPTXT," + strings.Repeat("x", MaxLineBytes)
	tests := []struct {
		name  string
		in    string
		want  []string
		check func(FramerStats) bool
	}{
		{"CRLF", nm(gga), []string{ggaLine + "|1"}, func(s FramerStats) bool { return s.ChecksumOK == 1 }},
		{"LF only", strings.TrimSuffix(nm(gga), "\r\n") + "\n", []string{ggaLine + "|1"}, nil},
		{"CR only", strings.TrimSuffix(nm(gga), "\r\n") + "\r" + strings.TrimSuffix(nm(gga), "\r\n") + "\r",
			[]string{ggaLine + "|1", ggaLine + "|1"}, nil},
		{"leading junk and partial line", "0.98,1127.7,M*6C\r\n\x00\xff" + nm(gga), []string{ggaLine + "|1"},
			func(s FramerStats) bool { return s.NoiseBytes > 0 && s.Lines == 1 }},
		{"resync at last $", "$GPGGA,030130" + nm(gga), []string{ggaLine + "|1"},
			func(s FramerStats) bool { return s.Spliced == 1 }},
		{"resync at !", "$GPGGA,0301!" + nm("AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0")[1:], []string{"!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26|1"},
			func(s FramerStats) bool { return s.Spliced == 1 && s.Malformed == 0 }},
		{"bad checksum", strings.Replace(nm(gga), "*", "0*", 1), nil, func(s FramerStats) bool { return s.BadChecksum == 1 }},
		{"truncated checksum", strings.TrimSuffix(nm(gga), "\r\n")[:len(nm(gga))-3] + "\r\n", nil,
			func(s FramerStats) bool { return s.BadChecksum == 1 }},
		{"lower-case checksum", strings.ToLower(nm("GPZDA,202640.000,13,04,2015,,")), nil, // 'gpzda' fails the checksum
			func(s FramerStats) bool { return s.BadChecksum == 1 }},
		{"no checksum", "$" + gga + "\r\n", []string{"$" + gga + "|2"}, func(s FramerStats) bool { return s.NoChecksum == 1 }},
		{"NUL inside", strings.Replace(nm(gga), "4404", "44\x0004", 1), nil, func(s FramerStats) bool { return s.Binary == 1 }},
		{"overlong", nm(long) + nm(gga), []string{ggaLine + "|1"}, func(s FramerStats) bool { return s.Overlong == 1 }},
		{"at the cap", nm("GPTXT," + strings.Repeat("y", MaxLineBytes-10)), []string{strings.TrimSuffix(nm("GPTXT,"+strings.Repeat("y", MaxLineBytes-10)), "\r\n") + "|1"}, nil},
		{"malformed address", "$G*47\r\n$,,,*00\r\n", nil, func(s FramerStats) bool { return s.Malformed == 2 }},
		{"empty lines", "\r\n\r\n\n" + nm(gga), []string{ggaLine + "|1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, st := feedLines(tc.in)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Feed(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if tc.check != nil && !tc.check(st) {
				t.Errorf("Feed(%q) stats = %+v", tc.in, st)
			}
		})
	}
}

// TestFramerSplitFeeds: the framer gives the same lines however the input
// is chunked, and the arrival time of each line is that of its '$'.
func TestFramerSplitFeeds(t *testing.T) {
	in := []byte("xx" + nm("GPZDA,202640.000,13,04,2015,,") + nm("GPZDA,202641.000,13,04,2015,,"))
	for chunk := 1; chunk <= len(in); chunk++ {
		var f Framer
		var arr []int64
		for i := 0; i < len(in); i += chunk {
			j := min(i+chunk, len(in))
			f.Feed(in[i:j], 1000+int64(i)*10, 10, func(l Line) { arr = append(arr, l.ArrivalNs) })
		}
		second := int64(1000 + 10*(2+len(nm("GPZDA,202640.000,13,04,2015,,"))))
		if len(arr) != 2 || arr[0] != 1020 || arr[1] != second {
			t.Fatalf("chunk %d: arrivals %v, want [1020 %d]", chunk, arr, second)
		}
	}
}

func TestExpandYear(t *testing.T) {
	tests := []struct{ yy, pivot, want int }{
		{99, 1999, 1999},
		{0, 1999, 2000},
		{98, 1999, 2098},
		{1, 1975, 2001}, // garmin48: header 2005, floor 1995.2, pivot 1975
		{75, 1975, 1975},
		{74, 1975, 2074},
		{99, 2006, 2099}, // floor 2026: window 2006–2105
		{5, 2006, 2105},
		{6, 2006, 2006},
		{19, 1999, 2019},
	}
	for _, tc := range tests {
		if got := ExpandYear(tc.yy, tc.pivot); got != tc.want {
			t.Errorf("ExpandYear(%d, %d) = %d, want %d", tc.yy, tc.pivot, got, tc.want)
		}
	}
	if p := PivotYear(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); p != 2006 {
		t.Errorf("PivotYear(2026-01-01) = %d, want 2006", p)
	}
}

func day(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

func TestUnfoldRollover(t *testing.T) {
	tests := []struct {
		name       string
		t, floor   time.Time
		want       time.Time
		wantOK     bool
		wantChange bool
	}{
		// 1999-08-22 rollover: a receiver stuck in the 1980 epoch says 1980-01-06 + x.
		{"1999 rollover", day(1980, 1, 6).Add(36 * time.Hour), day(1999, 1, 1), day(1999, 8, 22).Add(36 * time.Hour), true, true},
		// 2019-04-07 rollover: a receiver with a 1999-08-22 epoch says 1999-08-22 + x.
		{"2019 rollover", day(1999, 8, 28).Add(13 * time.Hour), day(2019, 1, 1), day(2019, 4, 13).Add(13 * time.Hour), true, true},
		{"ZED-F9P after 2019 rollover", day(2019, 4, 12), FloorFromApproxDate(day(2019, 4, 12)), day(2019, 4, 12), true, false},
		{"two rollovers", day(1980, 2, 1), day(2019, 1, 1), day(1980, 2, 1).Add(2 * RolloverPeriod), true, true},
		{"three rollovers", day(1980, 2, 1), day(2020, 1, 1), day(1980, 2, 1).Add(3 * RolloverPeriod), true, true},
		{"at floor", day(2026, 1, 1), day(2026, 1, 1), day(2026, 1, 1), true, false},
		{"just before floor", day(2025, 12, 31), day(2026, 1, 1), day(2025, 12, 31).Add(RolloverPeriod), true, true},
		{"before GPS epoch", day(1970, 1, 1), day(2026, 1, 1), day(1970, 1, 1), false, false},
		{"gp-320fw spoofed 2019 date, header 2010", day(2019, 3, 28), FloorFromApproxDate(day(2010, 10, 16)), day(2019, 3, 28), true, false},
	}
	for _, tc := range tests {
		got, ok := UnfoldRollover(tc.t, tc.floor)
		if !got.Equal(tc.want) || ok != tc.wantOK {
			t.Errorf("%s: UnfoldRollover(%v, %v) = %v, %v, want %v, %v", tc.name, tc.t, tc.floor, got, ok, tc.want, tc.wantOK)
		}
		if got.Sub(tc.t)%RolloverPeriod != 0 {
			t.Errorf("%s: moved by %v, not whole rollover periods", tc.name, got.Sub(tc.t))
		}
	}
}

func TestParseTOD(t *testing.T) {
	tests := []struct {
		in   string
		ns   int64
		leap bool
		ok   bool
	}{
		{"202640.000", (20*3600 + 26*60 + 40) * 1e9, false, true},
		{"000000", 0, false, true},
		{"123519.1234567", (12*3600+35*60+19)*1e9 + 123456700, false, true}, // sub-ms kept
		{"235960.5", 86400*1e9 + 5e8, true, true},
		{"235960", 86400 * 1e9, true, true},
		{"120060", 0, false, false}, // second 60 only at 23:59
		{"240000", 0, false, false},
		{"236000", 0, false, false},
		{"2359", 0, false, false},
		{"12a456", 0, false, false},
		{"123456,7", 0, false, false},
		{"", 0, false, false},
	}
	for _, tc := range tests {
		ns, leap, ok := parseTOD([]byte(tc.in))
		if ns != tc.ns || leap != tc.leap || ok != tc.ok {
			t.Errorf("parseTOD(%q) = %d, %v, %v, want %d, %v, %v", tc.in, ns, leap, ok, tc.ns, tc.leap, tc.ok)
		}
	}
}

// decode runs sentences (bodies) through a Stream with floor and returns
// the fixes.
func decode(floor time.Time, bodies ...string) []Fix {
	var b strings.Builder
	for _, s := range bodies {
		b.WriteString(nm(s))
	}
	f, _ := DecodeCapture([]byte(b.String()), floor)
	return f
}

type fixWant struct {
	time     string // RFC 3339 nano, "" = untrusted
	leap     bool
	mode     Mode
	distrust Distrust
}

func checkFixes(t *testing.T, name string, got []Fix, want []fixWant) {
	t.Helper()
	if len(got) != len(want) {
		for _, f := range got {
			t.Logf("  %v valid=%v leap=%v mode=%d %q", f.Time, f.TimeValid, f.LeapSecond, f.Mode, f.Distrust)
		}
		t.Fatalf("%s: %d fixes, want %d", name, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		gt := ""
		if g.TimeValid {
			gt = g.Time.Format(time.RFC3339Nano)
		}
		if gt != w.time || g.LeapSecond != w.leap || g.Mode != w.mode || g.Distrust != w.distrust {
			t.Errorf("%s fix %d = %q leap=%v mode=%d distrust=%q, want %q leap=%v mode=%d distrust=%q",
				name, i, gt, g.LeapSecond, g.Mode, g.Distrust, w.time, w.leap, w.mode, w.distrust)
		}
		if !g.TimeValid && !g.Time.IsZero() {
			t.Errorf("%s fix %d: untrusted fix has Time %v", name, i, g.Time)
		}
	}
}

func rmc(tod, status, date string) string {
	return "GPRMC," + tod + "," + status + ",4404.1306,N,12118.8515,W,0.03,225.97," + date + ",,,A"
}
func gga(tod string, q int) string {
	return fmt.Sprintf("GPGGA,%s,4404.1306,N,12118.8515,W,%d,10,0.98,1127.7,M,-19.6,M,,", tod, q)
}
func zda(tod, dmy string) string { return "GPZDA," + tod + "," + dmy + ",," }

func TestAssembler(t *testing.T) {
	floor := day(2010, 1, 1)
	tests := []struct {
		name   string
		floor  time.Time
		bodies []string
		want   []fixWant
	}{
		{"midnight crossing, date inherited by GGA-only epochs", floor, []string{
			rmc("235958.00", "A", "311215"), gga("235958.00", 1),
			gga("235959.00", 1),
			gga("000000.00", 1),
			gga("000001.50", 1),
		}, []fixWant{
			{"2015-12-31T23:59:58Z", false, Mode3D, DistrustNone},
			{"2015-12-31T23:59:59Z", false, Mode3D, DistrustNone},
			{"2016-01-01T00:00:00Z", false, Mode3D, DistrustNone},
			{"2016-01-01T00:00:01.5Z", false, Mode3D, DistrustNone},
		}},
		{"midnight crossing with RMC dates and ZDA", floor, []string{
			rmc("235959.00", "A", "300616"), zda("235959.00", "30,06,2016"),
			rmc("000000.00", "A", "010716"), zda("000000.00", "01,07,2016"),
		}, []fixWant{
			{"2016-06-30T23:59:59Z", false, Mode2D, DistrustNone},
			{"2016-07-01T00:00:00Z", false, Mode2D, DistrustNone},
		}},
		{"leap second 23:59:60", floor, []string{
			rmc("235959.00", "A", "311216"), zda("235959.00", "31,12,2016"),
			rmc("235960.00", "A", "311216"), zda("235960.00", "31,12,2016"),
			rmc("000000.00", "A", "010117"), zda("000000.00", "01,01,2017"),
		}, []fixWant{
			{"2016-12-31T23:59:59Z", false, Mode2D, DistrustNone},
			{"2016-12-31T23:59:59Z", true, Mode2D, DistrustNone},
			{"2017-01-01T00:00:00Z", false, Mode2D, DistrustNone},
		}},
		{"leap second not at month end", floor, []string{
			rmc("235959.00", "A", "150616"), rmc("235960.00", "A", "150616"),
		}, []fixWant{
			{"2016-06-15T23:59:59Z", false, Mode2D, DistrustNone},
			{"", true && false, Mode2D, DistrustLeap},
		}},
		{"RMC with 11 data fields (Motorola T805) still gives time and date", day(2000, 1, 1), []string{
			"GPGGA,212614.879,4839.9488,N,00214.8863,E,1,04,2.2,133.1,M,47.3,M,,0000",
			"GPRMC,212614.879,A,4839.9488,N,00214.8863,E,0.56,344.41,181207,0,A",
		}, []fixWant{{"2007-12-18T21:26:14.879Z", false, Mode3D, DistrustNone}}},
		{"status V never yields a trusted time", floor, []string{
			"GPRMC,000039.00,V,,,,,,,010108,,,N", "GPRMC,000040.00,V,,,,,,,010108,,,N",
			gga("073700.00", 0), "GPRMC,073700.00,V,,,,,,,090710,,,N",
			gga("073701.00", 1), rmc("073701.00", "A", "090710"),
		}, []fixWant{
			{"", false, ModeNoFix, DistrustStatusV}, // the V date is never used
			{"", false, ModeNoFix, DistrustStatusV},
			{"", false, ModeNoFix, DistrustStatusV},
			{"2010-07-09T07:37:01Z", false, Mode3D, DistrustNone},
		}},
		{"status V after a fix: time of day known but distrusted", floor, []string{
			rmc("120000.00", "A", "090710"), rmc("120001.00", "V", "090710"), rmc("120002.00", "A", "090710"),
		}, []fixWant{
			{"2010-07-09T12:00:00Z", false, Mode2D, DistrustNone},
			{"", false, ModeNoFix, DistrustStatusV},
			{"2010-07-09T12:00:02Z", false, Mode2D, DistrustNone},
		}},
		{"ZDA/RMC disagreement", floor, []string{
			rmc("120000.00", "A", "090710"), zda("120000.00", "10,07,2010"),
		}, []fixWant{{"", false, Mode2D, DistrustDisagree}}},
		{"time going backwards", floor, []string{
			rmc("120005.00", "A", "090710"), rmc("120003.00", "A", "090710"), rmc("120004.00", "A", "090710"),
		}, []fixWant{
			{"2010-07-09T12:00:05Z", false, Mode2D, DistrustNone},
			{"", false, Mode2D, DistrustBackwards},
			{"2010-07-09T12:00:04Z", false, Mode2D, DistrustNone},
		}},
		{"GGA before any date", floor, []string{gga("120000.00", 1)},
			[]fixWant{{"", false, Mode3D, DistrustNoDate}}},
		{"GLL-only epoch", floor, []string{
			rmc("120000.00", "A", "090710"), "GPGLL,4404.1306,N,12118.8515,W,120001.00,A,A",
		}, []fixWant{
			{"2010-07-09T12:00:00Z", false, Mode2D, DistrustNone},
			{"", false, Mode2D, DistrustGLLOnly},
		}},
		{"two-digit year 99 with a 2019 floor: 1999 unfolded to 2019", day(2019, 1, 1), []string{
			rmc("130000.00", "A", "280899"),
		}, []fixWant{{"2019-04-13T13:00:00Z", false, Mode2D, DistrustNone}}},
		{"ZDA year 1999 with a 2019 floor", day(2019, 1, 1), []string{
			zda("130000.00", "28,08,1999"), gga("130000.00", 1),
		}, []fixWant{{"2019-04-13T13:00:00Z", false, Mode3D, DistrustNone}}},
		{"ZDA 1980 default date before floor is unfolded only from the GPS epoch", day(2019, 1, 1), []string{
			zda("000012.00", "01,01,1980"), gga("000012.00", 1),
		}, []fixWant{{"", false, Mode3D, DistrustBeforeEpoch}}},
		{"sub-millisecond fractions kept", floor, []string{
			rmc("120000.123456", "A", "090710"),
		}, []fixWant{{"2010-07-09T12:00:00.123456Z", false, Mode2D, DistrustNone}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkFixes(t, tc.name, decode(tc.floor, tc.bodies...), tc.want)
		})
	}
}

// TestEnderLearning: after two cycles the assembler emits each epoch on its
// last sentence instead of waiting for the next burst, and a second GNGSA
// in a cycle does not end it early.
func TestEnderLearning(t *testing.T) {
	a := NewAssembler(day(2010, 1, 1), 0)
	d := NewDecoder(day(2010, 1, 1))
	cycle := func(tod string) []string {
		return []string{
			"GNRMC," + tod + ",A,4404.1306,N,12118.8515,W,0.03,225.97,090710,,,A",
			"GNGGA," + tod + ",4404.1306,N,12118.8515,W,1,10,0.98,1127.7,M,-19.6,M,,",
			"GNGSA,A,3,01,02,03,,,,,,,,,,1.5,0.9,1.2",
			"GNGSA,A,3,65,66,,,,,,,,,,,1.5,0.9,1.2",
		}
	}
	var emittedAfter []int // sentence index after which each fix came out
	i := 0
	for _, tod := range []string{"120000.00", "120001.00", "120002.00", "120003.00", "120004.00"} {
		for _, body := range cycle(tod) {
			line := strings.TrimRight(nm(body), "\r\n")
			s, ok := d.Decode(Line{Text: []byte(line), Checksum: ChecksumOK})
			if !ok {
				t.Fatalf("Decode(%q) failed", line)
			}
			if n := len(a.Add(nil, &s)); n > 0 {
				emittedAfter = append(emittedAfter, i)
			}
			i++
		}
	}
	// Cycles 0 and 1 are emitted when the next cycle's RMC arrives (sentence
	// 4 and 8); once the ender (2nd GNGSA) is learnt, on it (11, 15, 19).
	want := []int{4, 8, 11, 15, 19}
	if fmt.Sprint(emittedAfter) != fmt.Sprint(want) {
		t.Errorf("fixes emitted after sentences %v, want %v", emittedAfter, want)
	}
}

// TestDecoderRecovers: go-nmea rejects these; the time and date survive.
func TestDecoderRecovers(t *testing.T) {
	d := NewDecoder(day(2010, 1, 1))
	tests := []struct {
		body    string
		tod     string
		date    civilDate
		status  byte
		quality int
	}{
		{"GPRMC,212607.891,V,,,,,,,181207,0,N", "21:26:07.891", civilDate{2007, 12, 18}, 'V', -1},
		{"GPRMC,,V,,,,,,,,,,N", "", civilDate{}, 'V', -1},
		{"GNGGA,012238.00,3454.4922,S,13835.7617,E,9,12,99.0,53.3,M,-3.5,M,,", "01:22:38", civilDate{}, 0, 9},
		{"GPRMC,225308,A,4527.458,S,16709.165,E,000.0,094.5,060601,024.1,X", "22:53:08", civilDate{2001, 6, 6}, 'A', -1},
	}
	for _, tc := range tests {
		line := strings.TrimRight(nm(tc.body), "\r\n")
		s, ok := d.Decode(Line{Text: []byte(line), Checksum: ChecksumOK})
		tod := ""
		if s.HasTOD {
			tod = time.Time{}.Add(time.Duration(s.TODNs)).Format("15:04:05.999999999")
		}
		if !ok || tod != tc.tod || s.Date != tc.date || s.Status != tc.status || s.Quality != tc.quality {
			t.Errorf("Decode(%q) = ok %v tod %q date %v status %q quality %d recovered %v, want tod %q date %v status %q quality %d",
				tc.body, ok, tod, s.Date, s.Status, s.Quality, s.Recovered, tc.tod, tc.date, tc.status, tc.quality)
		}
	}
	// The same broken RMC without a checksum is refused: nothing vouches for it.
	if _, ok := d.Decode(Line{Text: []byte("$GPRMC,212607.891,V,,,,,,,181207,0,N"), Checksum: ChecksumMissing}); ok {
		t.Errorf("unchecked broken RMC accepted")
	}
	// A clean one without a checksum is accepted.
	if s, ok := d.Decode(Line{Text: []byte("$GPZDA,202640.000,13,04,2015,,"), Checksum: ChecksumMissing}); !ok || s.Date != (civilDate{2015, 4, 13}) {
		t.Errorf("clean unchecked ZDA refused: %v %+v", ok, s)
	}
	st := d.Stats()
	if st.Recovered != 3 || st.Rejected != 1 {
		t.Errorf("stats %+v, want 3 recovered, 1 rejected", st)
	}
}

func TestDecoderCountsOthers(t *testing.T) {
	in := nm("GPGST,172814.0,0.006,0.023,0.020,273.6,0.023,0.020,0.031") + nm("GNGBS,170556.00,3.0,2.9,8.3,,,,") +
		nm("PGRME,15.0,M,45.0,M,25.0,M") + nm("PUBX,00,081350.00") + nm("GYOACC,1,2,3") + nm("GPVTG,,T,,M,0.0,N,0.0,K,A") + nm("GPTXT,01,01,02,hello")
	_, st := DecodeCapture([]byte(in), day(2020, 1, 1))
	d := st.Decoder
	if d.Proprietary != 2 || d.Unknown != 1 || d.Unused != 4 || d.Used != 0 || d.Rejected != 0 {
		t.Errorf("decoder stats %+v, want 2 proprietary, 1 unknown, 4 unused", d)
	}
}

func TestParseDate(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2015-04-13": day(2015, 4, 13), " 2019-2-4": day(2019, 2, 4), "2021-12-18T": day(2021, 12, 18),
	} {
		if got, err := ParseDate(in); err != nil || !got.Equal(want) {
			t.Errorf("ParseDate(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"2015-02-30", "15-04-13", "2015/04/13", "", "2015-004-1"} {
		if _, err := ParseDate(in); err == nil {
			t.Errorf("ParseDate(%q) accepted", in)
		}
	}
}

func TestFormatFix(t *testing.T) {
	f := Fix{Time: time.Date(2016, 12, 31, 23, 59, 59, 500_000_000, time.UTC), LeapSecond: true, Mode: Mode3D, TimeValid: true}
	if got := FormatFix(f); got != "2016-12-31T23:59:60.500Z 3" {
		t.Errorf("FormatFix = %q", got)
	}
}

// TestDistrustString pins the words status screens show for each reason
// (ctl.GPSStatus.Distrust is Fix.Distrust.String()): they were the
// reasons' string values before Distrust became a type.
func TestDistrustString(t *testing.T) {
	for _, tc := range []struct {
		d    Distrust
		want string
	}{
		{DistrustNone, ""},
		{DistrustStatusV, "RMC status V"},
		{DistrustDisagree, "ZDA and RMC dates disagree"},
		{DistrustBackwards, "time did not advance"},
		{DistrustGLLOnly, "time of day only from GLL"},
		{DistrustBeforeEpoch, "date before the GPS epoch"},
		{DistrustLeap, "second 60 not at the end of a month"},
		{DistrustNoDate, "no date yet"},
		{DistrustNoDate + 1, "Distrust(8)"},
	} {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("Distrust(%d).String() = %q, want %q", uint8(tc.d), got, tc.want)
		}
	}
}
