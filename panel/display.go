package panel

import (
	"fmt"
	"image"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gpsntp/gpsntp/internal/ctl"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/devices/v3/ssd1306"
	"periph.io/x/devices/v3/ssd1306/image1bit"
)

// The display: 128×64 pixels, 8 lines of 21 characters (font.go).
const (
	DisplayW, DisplayH = 128, 64
	lineCount          = DisplayH / cellH
	lineLen            = DisplayW / cellW
)

// Lines is what the display shows for a status: UTC time, state and
// refid, offset, jitter, satellites used/seen and fix mode, NTP requests
// per second, the board's first address, and the first alarm (if any).
// Each line is cut to the 21 characters that fit. nil: starting.
func Lines(s *ctl.Snapshot) [lineCount]string {
	var l [lineCount]string
	if s == nil {
		l[0] = "GPSNTP"
		l[1] = "STARTING"
		return l
	}
	l[0] = s.Time.UTC().Format("2006-01-02 15:04:05Z")
	refid := s.RefID
	if refid == "" {
		refid = "-"
	}
	l[1] = fmt.Sprintf("%-8s REFID %s", strings.ToUpper(s.State), refid)
	l[2] = "OFF " + durationText(s.OffsetNs, true)
	l[3] = "JIT " + durationText(s.JitterNs, false)
	l[4] = fmt.Sprintf("SATS %d/%d %s", s.GPS.SatsUsed, s.GPS.SatsInView, strings.ToUpper(s.GPS.Mode))
	l[5] = fmt.Sprintf("REQ/S %.1f", s.Server.RequestsPerMin/60)
	l[6] = "NO NETWORK"
	if len(s.Addresses) > 0 {
		l[6] = strings.ToUpper(s.Addresses[0]) // IPv6 hex digits
	}
	if len(s.Alarms) > 0 {
		// Upper case: the font has only the units' lower-case letters.
		l[7] = "! " + strings.ToUpper(s.Alarms[0])
	}
	for i := range l {
		l[i] = cut(l[i], lineLen)
	}
	return l
}

// durationText is ns in the unit that keeps it short: 12ns, 1.23µs,
// 45.6µs, 1.23ms, 1.23s; signed says to write + for positive values.
func durationText(ns float64, signed bool) string {
	sign := ""
	if signed && ns >= 0 {
		sign = "+"
	}
	a := math.Abs(ns)
	switch {
	case math.IsNaN(ns):
		return "-"
	case a < 1e3:
		return fmt.Sprintf("%s%.0fns", sign, ns)
	case a < 1e6:
		return fmt.Sprintf("%s%.3gµs", sign, ns/1e3)
	case a < 1e9:
		return fmt.Sprintf("%s%.3gms", sign, ns/1e6)
	}
	return fmt.Sprintf("%s%.3gs", sign, ns/1e9)
}

func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Render draws lines in the panel's font: the frame the SSD1306 gets, in
// its own memory layout (image1bit.VerticalLSB: a byte is 8 pixels of a
// column, 8 pages of 128 bytes).
func Render(lines [lineCount]string) *image1bit.VerticalLSB {
	img := image1bit.NewVerticalLSB(image.Rect(0, 0, DisplayW, DisplayH))
	for row, text := range lines {
		col := 0
		for _, r := range text {
			if col >= lineLen {
				break
			}
			g := glyph(r)
			for y := range glyphH {
				for x := range glyphW {
					if g[y][x] == '#' {
						img.SetBit(col*cellW+x, row*cellH+y, image1bit.On)
					}
				}
			}
			col++
		}
	}
	return img
}

// Asleep says whether the display is off at hour (0–23) for a night from
// fromH to toH (fromH == toH: never).
func Asleep(hour, fromH, toH int) bool {
	switch {
	case fromH == toH:
		return false
	case fromH < toH:
		return hour >= fromH && hour < toH
	}
	return hour >= fromH || hour < toH
}

// addrBus sends every transaction to one address: ssd1306.NewI2C always
// talks to 0x3c, and boards with SA0 high answer at 0x3d.
type addrBus struct {
	i2c.Bus
	addr uint16
}

func (b addrBus) Tx(_ uint16, w, r []byte) error { return b.Bus.Tx(b.addr, w, r) }

// Display drives an SSD1306 through periph's driver. Not safe for
// concurrent use.
type Display struct {
	dev           *ssd1306.Dev
	fromH, toH    int
	asleep, shown bool
}

// NewDisplay initialises the SSD1306 at addr on bus (its init sequence:
// the first transaction, so a missing display fails here); night is the
// hours it is off (fromH == toH: never).
func NewDisplay(bus i2c.Bus, addr uint16, fromH, toH int) (*Display, error) {
	opts := ssd1306.DefaultOpts
	dev, err := ssd1306.NewI2C(addrBus{bus, addr}, &opts)
	if err != nil {
		return nil, fmt.Errorf("display ssd1306 at %#x on %s: %w", addr, bus, err)
	}
	return &Display{dev: dev, fromH: fromH, toH: toH}, nil
}

// Show draws s, or turns the display off at night; local is the board's
// time (its hour decides the night).
func (d *Display) Show(s *ctl.Snapshot, local time.Time) error {
	if Asleep(local.Hour(), d.fromH, d.toH) {
		if d.asleep {
			return nil
		}
		if err := d.dev.Halt(); err != nil {
			return fmt.Errorf("display: off for the night: %w", err)
		}
		d.asleep = true
		return nil
	}
	// ssd1306 turns the display back on with the next command it sends;
	// the frame changes every second (the time), so there is one.
	d.asleep = false
	if err := d.dev.Draw(image.Rect(0, 0, DisplayW, DisplayH), Render(Lines(s)), image.Point{}); err != nil {
		return fmt.Errorf("display: %w", err)
	}
	return nil
}
