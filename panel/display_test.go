package panel

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

var update = flag.Bool("update", false, "rewrite testdata/frame.golden from Render")

// snap is a synchronised appliance with one NTP client a second or so.
func snap() *ctl.Snapshot {
	return &ctl.Snapshot{
		Time: time.Date(2026, 12, 7, 3, 45, 13, 0, time.UTC), State: "pps", Synchronised: true, RefID: "PPS",
		OffsetNs: -12.4, JitterNs: 1534,
		GPS:       ctl.GPSStatus{SatsUsed: 9, SatsInView: 14, Mode: "3D"},
		Server:    ctl.ServerStats{RequestsPerMin: 750},
		Addresses: []string{"192.168.1.23", "fd00::23"},
	}
}

var snapLines = [8]string{
	"2026-12-07 03:45:13Z",
	"PPS      REFID PPS",
	"OFF -12ns",
	"JIT 1.53µs",
	"SATS 9/14 3D",
	"REQ/S 12.5",
	"192.168.1.23",
	"",
}

func TestLines(t *testing.T) {
	if got := Lines(snap()); got != snapLines {
		t.Errorf("Lines(snap) =\n%q, want\n%q", got, snapLines)
	}
	s := snap()
	s.State, s.Synchronised, s.RefID, s.Addresses = "unsync", false, "", nil
	s.Alarms = []string{"GPS device /dev/ttyAMA0 not available (no such file): check the cable"}
	s.OffsetNs, s.JitterNs = 2.5e6, 3e9
	want := [8]string{"2026-12-07 03:45:13Z", "UNSYNC   REFID -", "OFF +2.5ms", "JIT 3s", "SATS 9/14 3D", "REQ/S 12.5", "NO NETWORK",
		"! GPS DEVICE /DEV/TTY"}
	if got := Lines(s); got != want {
		t.Errorf("Lines(unsynchronised, alarm) =\n%q, want\n%q", got, want)
	}
	if got := Lines(nil); got[0] != "GPSNTP" || got[1] != "STARTING" {
		t.Errorf("Lines(nil) = %q, want GPSNTP STARTING", got)
	}
}

// initCmd is the SSD1306 initialisation periph's driver sends for a
// 128×64 panel, byte by byte (SSD1306 datasheet rev 1.1, command table
// §9 and the flow on page 64), after the control byte 0x00 (commands).
var initCmd = []byte{0x00,
	0xAE,       // display off
	0xD3, 0x00, // display offset 0
	0x40,       // start line 0
	0xA1,       // segment remap: column 127 is SEG0
	0xC8,       // COM scan direction: remapped
	0xDA, 0x12, // COM pins: alternative, no left/right remap
	0x81, 0xFF, // contrast
	0xA4,       // display follows RAM
	0xA6,       // normal (not inverted)
	0xD5, 0xF0, // oscillator: fastest
	0x8D, 0x14, // charge pump on
	0xD9, 0xF1, // pre-charge
	0xDB, 0x40, // VCOMH
	0x2E,       // scrolling off
	0xA8, 0x3F, // multiplex: 64 rows
	0x20, 0x00, // horizontal addressing
	0x21, 0, 127, // columns 0–127
	0x22, 0, 7, // pages 0–7
	0xAF, // display on
}

// goldenPages reads testdata/frame.golden (64 rows of 128 '#'/'.') into
// the SSD1306's 8 pages of 128 bytes, bit 0 the top row of each page.
func goldenPages(t *testing.T) [8][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/frame.golden")
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(rows) != DisplayH {
		t.Fatalf("frame.golden: %d rows, want %d", len(rows), DisplayH)
	}
	var pages [8][]byte
	for p := range pages {
		pages[p] = make([]byte, DisplayW)
		for x := range DisplayW {
			for bit := range 8 {
				row := rows[p*8+bit]
				if len(row) != DisplayW {
					t.Fatalf("frame.golden row %d: %d columns, want %d", p*8+bit, len(row), DisplayW)
				}
				if row[x] == '#' {
					pages[p][x] |= 1 << bit
				}
			}
		}
	}
	return pages
}

func writeGolden(t *testing.T) {
	img := Render(snapLines)
	var b strings.Builder
	for y := range DisplayH {
		for x := range DisplayW {
			if img.BitAt(x, y) {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	if err := os.WriteFile("testdata/frame.golden", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fullFrame is the I²C traffic of drawing pages in full at addr: per
// page, the page and column address commands, then its 128 data bytes
// after the control byte 0x40.
func fullFrame(addr uint16, pages [8][]byte, prefix ...byte) []i2ctest.IO {
	var ops []i2ctest.IO
	for p, data := range pages {
		cmd := append([]byte{0x00}, prefix...)
		if p > 0 {
			cmd = []byte{0x00}
		}
		cmd = append(cmd, 0xB0|byte(p), 0x00, 0x10)
		ops = append(ops, i2ctest.IO{Addr: addr, W: cmd}, i2ctest.IO{Addr: addr, W: append([]byte{0x40}, data...)})
	}
	return ops
}

// The first frame goes out byte for byte as the golden file says:
// initialisation, then 8 full pages.
func TestDisplayGoldenFrame(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	pages := goldenPages(t)
	for _, addr := range []uint16{0x3c, 0x3d} {
		pb := &i2ctest.Playback{DontPanic: true, Ops: append([]i2ctest.IO{{Addr: addr, W: initCmd}}, fullFrame(addr, pages)...)}
		d, err := NewDisplay(pb, addr, 0, 0)
		if err != nil {
			t.Fatalf("NewDisplay(%#x) = %v", addr, err)
		}
		if err := d.Show(snap(), time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)); err != nil {
			t.Fatalf("Show at %#x = %v", addr, err)
		}
		if err := pb.Close(); err != nil {
			t.Errorf("at %#x: %v", addr, err)
		}
	}
}

// ram is an SSD1306's display memory as the driver's commands address it
// (page and column set, data bytes written from there on).
type ram struct {
	pages      [8][DisplayW]byte
	page, col  int
	on         bool
	halts, ons int
}

func (r *ram) apply(t *testing.T, ops []i2ctest.IO) {
	t.Helper()
	for _, op := range ops {
		switch op.W[0] {
		case 0x40:
			for _, b := range op.W[1:] {
				r.pages[r.page][r.col] = b
				r.col++
			}
		case 0x00:
			for i := 1; i < len(op.W); i++ {
				c := op.W[i]
				switch {
				case c == 0xAE:
					r.on = false
					r.halts++
				case c == 0xAF:
					r.on = true
					r.ons++
				case len(op.W) > 8: // the initialisation: nothing else to follow
					continue
				case c&0xF0 == 0xB0:
					r.page = int(c & 7)
				case c&0xF0 == 0x00:
					r.col = r.col&0xF0 | int(c&0x0F)
				case c&0xF0 == 0x10:
					r.col = r.col&0x0F | int(c&0x0F)<<4
				default:
					t.Fatalf("unexpected command %#x in %x", c, op.W)
				}
			}
		default:
			t.Fatalf("unknown control byte in %x", op.W)
		}
	}
}

// text decodes the display memory back to characters, cell by cell, by
// the panel's font; '\x00' where a cell matches no glyph.
func (r *ram) text() [8]string {
	var out [8]string
	for line := range 8 {
		var s []rune
		for col := range lineLen {
			var cell [glyphH]string
			for y := range glyphH {
				var b []byte
				for x := range glyphW {
					if r.pages[line][col*cellW+x]&(1<<y) != 0 {
						b = append(b, '#')
					} else {
						b = append(b, '.')
					}
				}
				cell[y] = string(b)
			}
			ch := rune(0)
			for c, g := range font {
				if g == cell {
					ch = c
					break
				}
			}
			s = append(s, ch)
		}
		out[line] = strings.TrimRight(string(s), " ")
	}
	return out
}

// Every frame sent decodes back to the status' text: the first in full,
// later ones as the rectangle that changed; at night the display is
// turned off once, and back on with the first frame of the morning.
func TestDisplayDecodesBack(t *testing.T) {
	rec := &i2ctest.Record{}
	d, err := NewDisplay(rec, 0x3c, 22, 7)
	if err != nil {
		t.Fatal(err)
	}
	var m ram
	day := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	show := func(s *ctl.Snapshot, at time.Time) {
		t.Helper()
		rec.Ops = nil
		if err := d.Show(s, at); err != nil {
			t.Fatalf("Show = %v", err)
		}
		m.apply(t, rec.Ops)
	}
	m.apply(t, rec.Ops)
	show(snap(), day)
	if got := m.text(); got != snapLines {
		t.Fatalf("decoded first frame =\n%q, want\n%q", got, snapLines)
	}
	s := snap()
	s.Time = s.Time.Add(time.Second)
	show(s, day.Add(time.Second))
	// Page 0 only (the time's), and only the columns of the digit that
	// changed (periph's driver sends the rectangle that changed).
	if len(rec.Ops) != 2 || rec.Ops[0].W[1] != 0xB0 || len(rec.Ops[1].W) > 1+cellW {
		t.Errorf("second frame: %d transactions (%x), want the last digit's columns of page 0 only", len(rec.Ops), rec.Ops)
	}
	want := Lines(s)
	if got := m.text(); got != want || want[0] != "2026-12-07 03:45:14Z" {
		t.Errorf("decoded second frame =\n%q, want\n%q", got, want)
	}
	s.Alarms = []string{"display: x"}
	show(s, day.Add(2*time.Second))
	want = Lines(s)
	if got := m.text(); got != want || want[7] != "! DISPLAY: X" {
		t.Errorf("decoded frame with an alarm =\n%q, want\n%q", got, want)
	}
	night := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	show(s, night)
	show(s, night.Add(time.Hour))
	if m.on || m.halts != 2 { // the initialisation's, and the night's
		t.Errorf("at night: on %v after %d display-off commands, want off after 2", m.on, m.halts)
	}
	s.Time = s.Time.Add(8 * time.Hour)
	show(s, time.Date(2026, 12, 8, 7, 0, 0, 0, time.UTC))
	if !m.on || m.text() != Lines(s) {
		t.Errorf("in the morning: on %v, text %q; want on, %q", m.on, m.text(), Lines(s))
	}
}

func TestAsleep(t *testing.T) {
	for _, tc := range []struct {
		from, to int
		asleep   []int
	}{
		{22, 7, []int{0, 1, 2, 3, 4, 5, 6, 22, 23}},
		{1, 6, []int{1, 2, 3, 4, 5}},
		{0, 0, nil},
	} {
		var got []int
		for h := range 24 {
			if Asleep(h, tc.from, tc.to) {
				got = append(got, h)
			}
		}
		if !slices.Equal(got, tc.asleep) {
			t.Errorf("Asleep(h, %d, %d) for hours %v, want %v", tc.from, tc.to, got, tc.asleep)
		}
	}
}

func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		ns     float64
		signed bool
		want   string
	}{
		{0, true, "+0ns"}, {-12.4, true, "-12ns"}, {999, false, "999ns"}, {1534, false, "1.53µs"},
		{-45600, true, "-45.6µs"}, {2.5e6, true, "+2.5ms"}, {3e9, false, "3s"},
	} {
		if got := durationText(tc.ns, tc.signed); got != tc.want {
			t.Errorf("durationText(%v, %v) = %q, want %q", tc.ns, tc.signed, got, tc.want)
		}
	}
}
