package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gpsntp/gpsntp/board"
)

// The front panel's directives (package panel drives them): `led` and
// `display`. Their parsers return values; Config keeps them as its LED
// and Display fields.

// LEDKind is what the `led` directive drives.
type LEDKind string

const (
	LEDNone LEDKind = ""     // no status LED (the default)
	LEDGPIO LEDKind = "gpio" // an LED on a header GPIO, through periph.io's gpioioctl
	LEDACT  LEDKind = "act"  // the board's own ACT LED, through /sys/class/leds
)

// LED is the `led gpio PIN [chip LABEL] | led act | led none` directive:
// the status LED.
type LED struct {
	Kind LEDKind
	Pin  int    // BCM GPIO line for gpio (board.ParsePin)
	Chip string // gpio chip label ("": the board's, board.Board.GPIOChip)
}

// Display is the `display ssd1306 [bus N] [addr 0xNN] [night HH-HH] |
// display none` directive: an I²C OLED front panel.
type Display struct {
	// Model is "ssd1306", or "" for no display (the default).
	Model string
	Bus   int    // /dev/i2c-N (default 1: header pins 3 and 5)
	Addr  uint16 // 7-bit I²C address (default 0x3c; 0x3d with SA0 high)
	// NightFromH and NightToH are the hours (0–23, the board's local
	// time; the SD image has no time zone, so UTC there) between which
	// the display is off; equal: never off. 22-7 is off from 22:00 to
	// 06:59.
	NightFromH, NightToH int
}

// HasNight says whether the display sleeps at night.
func (d Display) HasNight() bool { return d.NightFromH != d.NightToH }

// ParseLED reads the arguments of `led`.
func ParseLED(args []string) (LED, error) {
	const want = "expected `led gpio PIN [chip LABEL]`, `led act` or `led none`"
	if len(args) == 0 {
		return LED{}, fmt.Errorf("%s", want)
	}
	switch {
	case args[0] == "none" && len(args) == 1:
		return LED{Kind: LEDNone}, nil
	case args[0] == "act" && len(args) == 1:
		return LED{Kind: LEDACT}, nil
	case args[0] == "gpio" && len(args) >= 2:
		pin, err := parsePinArg(args[1], false)
		if err != nil {
			return LED{}, err
		}
		l := LED{Kind: LEDGPIO, Pin: pin}
		switch {
		case len(args) == 2:
		case len(args) == 4 && args[2] == "chip":
			l.Chip = args[3]
		default:
			return LED{}, fmt.Errorf("unknown option %q; %s", strings.Join(args[2:], " "), want)
		}
		return l, nil
	}
	return LED{}, fmt.Errorf("%s", want)
}

// ParseDisplay reads the arguments of `display`.
func ParseDisplay(args []string) (Display, error) {
	const want = "expected `display ssd1306 [bus N] [addr 0x3c] [night HH-HH]` or `display none`"
	if len(args) == 0 {
		return Display{}, fmt.Errorf("%s", want)
	}
	if args[0] == "none" && len(args) == 1 {
		return Display{}, nil
	}
	if args[0] != "ssd1306" {
		return Display{}, fmt.Errorf("%s; got %q (the only display model is ssd1306, 128×64 over I²C)", want, args[0])
	}
	d := Display{Model: "ssd1306", Bus: 1, Addr: 0x3c}
	for i := 1; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return Display{}, fmt.Errorf("expected a value after %q; %s", args[i], want)
		}
		v := args[i+1]
		switch args[i] {
		case "bus":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 255 {
				return Display{}, fmt.Errorf("expected an I²C bus number (1 is header pins 3 and 5: /dev/i2c-1), got %q", v)
			}
			d.Bus = n
		case "addr":
			n, err := strconv.ParseUint(v, 0, 16)
			// 0x08–0x77: 7-bit addresses not reserved by the I²C
			// specification (0x00–0x07, 0x78–0x7f are).
			if err != nil || n < 0x08 || n > 0x77 {
				return Display{}, fmt.Errorf("expected a 7-bit I²C address 0x08–0x77 (SSD1306 boards use 0x3c or 0x3d), got %q", v)
			}
			d.Addr = uint16(n)
		case "night":
			from, to, err := parseHours(v)
			if err != nil {
				return Display{}, err
			}
			d.NightFromH, d.NightToH = from, to
		default:
			return Display{}, fmt.Errorf("unknown option %q; %s", args[i], want)
		}
	}
	return d, nil
}

// parseHours reads "22-7" or "22-07": the display is off from the first
// hour to the second (across midnight when the first is later).
func parseHours(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	from, errA := strconv.Atoi(a)
	to, errB := strconv.Atoi(b)
	if !ok || errA != nil || errB != nil || from < 0 || from > 23 || to < 0 || to > 23 || from == to {
		return 0, 0, fmt.Errorf("expected `night HH-HH`, two different hours 0–23 such as 22-07 (off from 22:00 until 07:00), got %q", s)
	}
	return from, to, nil
}

// parsePinArg reads the PIN of `pps gpio PIN|auto` (allowAuto) and `led
// gpio PIN`: board.ParsePin's forms (4, GPIO4, P1_7). A header pin that
// is power or ground keeps board.ParsePin's error, which names the pin;
// anything else is the message `pps gpio` always gave.
func parsePinArg(s string, allowAuto bool) (int, error) {
	if allowAuto && s == Auto {
		return PinAuto, nil
	}
	n, err := board.ParsePin(s)
	if err == nil {
		return n, nil
	}
	if strings.HasPrefix(err.Error(), "header pin") {
		return 0, err
	}
	if allowAuto {
		return 0, fmt.Errorf("expected a GPIO line number 0–%d or auto, got %q (GPIO4 and header pins such as P1_7 also work)", board.MaxGPIO, s)
	}
	return 0, fmt.Errorf("expected a GPIO line number 0–%d, got %q (GPIO4 and header pins such as P1_7 also work)", board.MaxGPIO, s)
}
