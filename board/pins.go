package board

import (
	"fmt"
	"strconv"
	"strings"
)

// HeaderPin is one pin of the 40-pin header (J8; periph.io calls it P1).
type HeaderPin struct {
	// Pin is the physical pin number, 1–40 (pin 1 is the square pad,
	// odd pins on the inner row).
	Pin int
	// GPIO is the BCM GPIO number the pin carries, -1 for a power or
	// ground pin.
	GPIO int
	// Supply says what a pin without a GPIO is: "3.3 V", "5 V" or
	// "ground"; "" for a GPIO pin.
	Supply string
}

// Board detection and periph.io's. periph's host/v3/rpi (v3.8.5) decides
// by the firmware's revision code (/proc/device-tree/system/linux,revision)
// once its driver is initialised; Detect decides by the model string. They
// agree on the Pi 3, 3B+, 3A+, 4B, 400, Zero 2 W and CM4 (the revision
// code's board types 0x8, 0xd, 0xe, 0x11, 0x13, 0x12, 0x14). They differ
// where periph falls short:
//   - CM4S (0x15), CM5 (0x18), Pi 500 (0x19) and CM5 Lite (0x20): periph
//     knows the codes but its header table has no case for them, so its
//     rpi driver fails with "unknown hardware version" and registers no
//     header; Detect knows the CM4S, CM5 and 500 by model.
//   - Pi 5 (0x17): periph registers the header, but its P1_x pins are
//     bcm283x pins, driven through the BCM283x's memory-mapped registers;
//     on a Pi 5 the header is on RP1, behind PCIe, where those registers
//     are not. The numbers still hold (RP1 numbers its header lines as the
//     BCM SoCs did), so we take periph's names and numbers only, and drive
//     lines through the GPIO character device, found by chip label
//     (Board.GPIOChip: pinctrl-rp1), which periph's gpioioctl also uses.
//
// header is the 40-pin header of every board in boards (Pi 3 and later,
// Zero 2 W, 400; the Compute Modules' carrier boards route the same
// GPIOs to the same pins). The Pi 5's RP1 numbers its header lines as the
// BCM SoCs did, so the GPIO numbers hold there too. TestHeaderAgreesWithPeriph
// checks the table against periph.io's host/v3/rpi P1_x variables. We keep
// our own copy because reading periph's would link its bcm283x driver
// (memory-mapped registers that are wrong on a Pi 5) into the daemon.
var header = func() [40]HeaderPin {
	gpio := map[int]int{
		3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23,
		18: 24, 19: 10, 21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5,
		31: 6, 32: 12, 33: 13, 35: 19, 36: 16, 37: 26, 38: 20, 40: 21,
	}
	supply := map[int]string{1: "3.3 V", 17: "3.3 V", 2: "5 V", 4: "5 V"}
	for _, p := range []int{6, 9, 14, 20, 25, 30, 34, 39} {
		supply[p] = "ground"
	}
	var h [40]HeaderPin
	for i := range h {
		p := i + 1
		h[i] = HeaderPin{Pin: p, GPIO: -1, Supply: supply[p]}
		if g, ok := gpio[p]; ok {
			h[i].GPIO, h[i].Supply = g, ""
		}
	}
	return h
}()

// Header returns the 40 pins of the header, pin 1 first.
func Header() []HeaderPin { return header[:] }

// HeaderPinOf returns the header pin that carries BCM GPIO line, ok false
// if no header pin does (GPIO 28 and up).
func HeaderPinOf(line int) (HeaderPin, bool) {
	for _, p := range header {
		if p.GPIO == line && line >= 0 {
			return p, true
		}
	}
	return HeaderPin{}, false
}

// MaxGPIO is the highest line number ParsePin accepts as a bare number:
// the CM4's SoC has GPIO 0–53 (not all on the carrier's header), RP1 has
// 0–53 too; 63 leaves room as `pps gpio` always has.
const MaxGPIO = 63

// ParsePin reads a GPIO pin the ways people name one, and returns its BCM
// line number:
//
//   - "4", "GPIO4", "gpio4", "BCM4": the BCM GPIO number (0–MaxGPIO), as
//     in pinout diagrams, gpioinfo and config.txt overlays;
//   - "P1_7", "P1-7", "J8_7", "PIN7": the physical header pin (1–40), as
//     periph.io (P1_x) and the Pi schematics (J8) name them.
//
// A power or ground pin is an error that names the header pin and what it
// carries, as is a number off the header.
func ParsePin(s string) (int, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for _, pre := range []string{"P1_", "P1-", "J8_", "J8-", "PIN"} {
		if rest, ok := strings.CutPrefix(u, pre); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 1 || n > len(header) {
				return 0, fmt.Errorf("header pin %q: the header has pins 1–40 (P1_1 … P1_40)", s)
			}
			p := header[n-1]
			if p.GPIO < 0 {
				name := fmt.Sprintf("P1_%d", n)
				if !strings.EqualFold(s, name) {
					name = fmt.Sprintf("%s (P1_%d)", s, n)
				}
				return 0, fmt.Errorf("header pin %s is %s, not a GPIO: %s", name, p.Supply, nearestGPIO(n))
			}
			return p.GPIO, nil
		}
	}
	num := u
	for _, pre := range []string{"GPIO", "BCM"} {
		if rest, ok := strings.CutPrefix(u, pre); ok {
			num = strings.TrimPrefix(rest, "_")
			break
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || n > MaxGPIO || num != strconv.Itoa(n) {
		return 0, fmt.Errorf("pin %q: expected a BCM GPIO number 0–%d (4, GPIO4) or a header pin (P1_7)", s, MaxGPIO)
	}
	return n, nil
}

// nearestGPIO names the GPIO pins beside header pin n, for an error about
// a power or ground pin: the likely slip is one pin over.
func nearestGPIO(n int) string {
	var near []string
	for _, m := range []int{n - 2, n - 1, n + 1, n + 2} {
		if m >= 1 && m <= len(header) && header[m-1].GPIO >= 0 {
			near = append(near, fmt.Sprintf("P1_%d is GPIO%d", m, header[m-1].GPIO))
		}
	}
	if len(near) == 0 {
		return "choose a GPIO pin"
	}
	return "nearby, " + strings.Join(near, ", ")
}
