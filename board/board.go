package board

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// Board is what gpsntp needs to know about a single-board computer.
type Board struct {
	// Name is the short identifier used in the config file (board pi4b).
	Name string
	// Title is the model as people say it.
	Title string
	// Models are /proc/device-tree/model values without the " Rev x.y"
	// suffix, for example "Raspberry Pi 4 Model B".
	Models []string
	// UART is the serial device on header pins 8/10 (GPIO 14/15) once
	// ConfigTxt is applied. It is the full PL011 UART (ttyAMA0), not the
	// mini UART whose baud rate follows the core clock. /dev/serial0 points
	// at it on Pi 3/4/Zero 2 W/CM4 after dtoverlay=disable-bt; on a Pi 5
	// serial0 is the debug connector (ttyAMA10) and GPIO 14/15 is ttyAMA0.
	UART string
	// PPSPin is the default BCM GPIO number for PPS: 18, the pps-gpio
	// overlay's default and what the Uputronics HAT uses. A receiver's
	// HATPPSPin overrides it (Adafruit's Ultimate GPS HAT wires GPIO 4).
	PPSPin uint32
	// GPIOChip is the label of the GPIO chip that carries the header pins,
	// for pps.GPIOConfig.Chip. Chip numbers change between kernels; labels
	// do not.
	GPIOChip string
	// ConfigTxt are the /boot/firmware/config.txt lines for a receiver on
	// the header UART with PPS on PPSPin via the kernel PPS driver.
	ConfigTxt []string
	// PPSOffsetNs is how late the kernel timestamps a PPS edge on this
	// board (positive: late). Pass it to pps.Compensated. Measured about
	// +11 µs on a Pi 5 (RP1 is behind PCIe; 5–6 µs with tuning); 0 where
	// nobody has calibrated it yet. Operators can override it in config.
	PPSOffsetNs int64
}

// ConfigTxtFor returns b's config.txt lines with PPS on pin instead of
// b.PPSPin.
func (b Board) ConfigTxtFor(pin uint32) []string {
	out := slices.Clone(b.ConfigTxt)
	for i, l := range out {
		if strings.HasPrefix(l, "dtoverlay=pps-gpio") {
			out[i] = fmt.Sprintf("dtoverlay=pps-gpio,gpiopin=%d", pin)
		}
	}
	return out
}

// Header GPIO chip labels (drivers/pinctrl/bcm/pinctrl-bcm2835.c names its
// chip after the compatible SoC; RP1's driver is pinctrl-rp1).
const (
	chipBCM2835 = "pinctrl-bcm2835" // Pi 3, Zero 2 W (BCM2837/RP3A0)
	chipBCM2711 = "pinctrl-bcm2711" // Pi 4, 400, CM4
	chipRP1     = "pinctrl-rp1"     // Pi 5, 500, CM5
)

// Pi 3/4 family: Bluetooth owns the PL011 unless disabled, leaving GPIO
// 14/15 the mini UART, whose baud rate drifts with the core clock.
var btPiConfig = []string{"enable_uart=1", "dtoverlay=disable-bt", "dtoverlay=pps-gpio,gpiopin=18"}

// Pi 5 family: Bluetooth has its own UART; GPIO 14/15 is RP1's UART0,
// off by default.
var pi5Config = []string{"dtparam=uart0=on", "dtoverlay=pps-gpio,gpiopin=18"}

var boards = []Board{
	{Name: "pi0-2w", Title: "Raspberry Pi Zero 2 W", Models: []string{"Raspberry Pi Zero 2 W"},
		UART: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2835, ConfigTxt: btPiConfig},
	{Name: "pi3b", Title: "Raspberry Pi 3 Model B", Models: []string{"Raspberry Pi 3 Model B"},
		UART: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2835, ConfigTxt: btPiConfig},
	{Name: "pi3b+", Title: "Raspberry Pi 3 Model B+", Models: []string{"Raspberry Pi 3 Model B Plus"},
		UART: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2835, ConfigTxt: btPiConfig},
	{Name: "pi3a+", Title: "Raspberry Pi 3 Model A+", Models: []string{"Raspberry Pi 3 Model A Plus"},
		UART: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2835, ConfigTxt: btPiConfig},
	{Name: "pi4b", Title: "Raspberry Pi 4 Model B", Models: []string{"Raspberry Pi 4 Model B"},
		UART: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2711, ConfigTxt: btPiConfig},
	{Name: "pi400", Title: "Raspberry Pi 400", Models: []string{"Raspberry Pi 400"},
		UART: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2711, ConfigTxt: btPiConfig},
	{Name: "cm4", Title: "Raspberry Pi Compute Module 4", Models: []string{"Raspberry Pi Compute Module 4", "Raspberry Pi Compute Module 4S"},
		UART: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2711, ConfigTxt: btPiConfig},
	{Name: "pi5", Title: "Raspberry Pi 5", Models: []string{"Raspberry Pi 5 Model B"},
		UART: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipRP1, ConfigTxt: pi5Config, PPSOffsetNs: 11_000},
	{Name: "pi500", Title: "Raspberry Pi 500", Models: []string{"Raspberry Pi 500"},
		UART: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipRP1, ConfigTxt: pi5Config, PPSOffsetNs: 11_000},
	{Name: "cm5", Title: "Raspberry Pi Compute Module 5", Models: []string{"Raspberry Pi Compute Module 5"},
		UART: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipRP1, ConfigTxt: pi5Config, PPSOffsetNs: 11_000},
}

// Boards returns every known board profile.
func Boards() []Board {
	out := make([]Board, len(boards))
	for i, b := range boards {
		out[i] = clone(b)
	}
	return out
}

func clone(b Board) Board {
	b.Models = slices.Clone(b.Models)
	b.ConfigTxt = slices.Clone(b.ConfigTxt)
	return b
}

// ByName returns the board called name (as in Board.Name), ignoring case.
func ByName(name string) (Board, bool) {
	for _, b := range boards {
		if strings.EqualFold(b.Name, name) {
			return clone(b), true
		}
	}
	return Board{}, false
}

// Detect identifies the board from the contents of /proc/device-tree/model
// ("Raspberry Pi 4 Model B Rev 1.4\x00"). An exact match of the model
// without its " Rev" suffix wins; otherwise the longest known model that
// is a prefix of it, so a future "Raspberry Pi 5 Model B Something" still
// maps to the Pi 5 profile. ok is false if nothing matches.
func Detect(model string) (Board, bool) {
	m := normalizeModel(model)
	if m == "" {
		return Board{}, false
	}
	best, bestLen := -1, 0
	for i, b := range boards {
		for _, pm := range b.Models {
			if m == pm {
				return clone(b), true
			}
			if len(pm) > bestLen && strings.HasPrefix(m, pm+" ") {
				best, bestLen = i, len(pm)
			}
		}
	}
	if best < 0 {
		return Board{}, false
	}
	return clone(boards[best]), true
}

func normalizeModel(model string) string {
	model = strings.TrimRight(model, "\x00 \t\r\n")
	if i := strings.IndexByte(model, 0); i >= 0 {
		model = model[:i]
	}
	model = strings.Join(strings.Fields(model), " ")
	if i := strings.LastIndex(model, " Rev "); i >= 0 {
		model = model[:i]
	}
	return model
}

// ModelPath is where the device tree names the machine.
const ModelPath = "/proc/device-tree/model"

// ReadModel returns the machine's device-tree model string, NUL and
// whitespace trimmed, or an error (there is no device tree on a PC).
func ReadModel() (string, error) {
	b, err := os.ReadFile(ModelPath)
	if err != nil {
		return "", fmt.Errorf("board: read model: %w", err)
	}
	return strings.TrimRight(string(b), "\x00 \t\r\n"), nil
}
