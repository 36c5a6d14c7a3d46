package board

import (
	"fmt"
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
	// ConfigTxt is applied: the GPS. It is the full PL011 UART (ttyAMA0),
	// not the mini UART whose baud rate follows the core clock.
	UART string
	// Serial0 is what udev's /dev/serial0 points at once ConfigTxt is
	// applied: UART on Pi 3/4/Zero 2 W/CM4 (dtoverlay=disable-bt makes the
	// PL011 the primary UART), the debug connector's ttyAMA10 on the Pi 5
	// family (Raspberry Pi documentation, "Configure UARTs").
	Serial0 string
	// PPSPin is the default BCM GPIO number for PPS: 18, the pps-gpio
	// overlay's default. A detected HAT overrides it (WithHAT).
	PPSPin uint32
	// GPIOChip is the label of the GPIO chip that carries the header pins,
	// for pps.GPIOConfig.Chip. Chip numbers change between kernels; labels
	// do not.
	GPIOChip string
	// ConfigTxt are the config.txt lines that put UART on GPIO 14/15.
	ConfigTxt []string
	// Console is the terminal for gpsntpd's status console that does not
	// fight the GPS for its UART, once ConsoleConfigTxt is applied and
	// ConsoleNeeds is met; "" where the board has none to spare
	// (ConsoleNote says what to use instead).
	Console string
	// ConsoleConfigTxt are the config.txt lines Console needs.
	ConsoleConfigTxt []string
	// ConsoleNeeds is what Console needs beyond config.txt ("": nothing).
	ConsoleNeeds string
	// ConsoleNote says where Console is on the board, for people.
	ConsoleNote string
	// Family is the config.txt conditional filter that matches this model
	// and its relatives ("pi4" matches the 4B, the 400 and the CM4), and
	// Filter the one that matches this model alone where it needs lines
	// its family does not ("" otherwise). Raspberry Pi documentation,
	// "config.txt: conditional filters".
	Family, Filter string
	// PPSOffsetNs is how late the kernel timestamps a PPS edge on this
	// board (positive: late). Pass it to pps.Compensated. Measured about
	// +11 µs on a Pi 5 (RP1 is behind PCIe; 5–6 µs with tuning); 0 where
	// nobody has calibrated it yet. Operators can override it in config.
	PPSOffsetNs int64
}

// PPSOverlay is the config.txt line that loads the kernel's pps-gpio
// driver on pin (/dev/pps0), for systems that read PPS through the kernel
// PPS API (the .deb). The SD image reads the GPIO character device instead
// and must leave the pin free: the overlay would claim it.
func PPSOverlay(pin uint32) string {
	return fmt.Sprintf("dtoverlay=pps-gpio,gpiopin=%d", pin)
}

// ConfigTxtFor returns b's config.txt lines for the GPS UART, the status
// console and the kernel PPS driver on pin: what a Raspberry Pi OS
// install of this board needs.
func (b Board) ConfigTxtFor(pin uint32) []string {
	return b.lines(ConfigTxtOptions{KernelPPSPin: pin, Console: true})
}

// ConfigTxtOptions says what rendered config.txt lines are for.
type ConfigTxtOptions struct {
	// KernelPPSPin, if not 0, loads pps-gpio on that pin (PPSOverlay).
	// 0: PPS is read through the GPIO character device.
	KernelPPSPin uint32
	// Console adds each board's ConsoleConfigTxt.
	Console bool
	// NoModules leaves out a console that needs more than config.txt
	// (ConsoleNeeds): the SD image's kernel has no modules to load.
	NoModules bool
}

// lines are b's config.txt lines for o, in order: UART, console, PPS.
func (b Board) lines(o ConfigTxtOptions) []string {
	out := slices.Clone(b.ConfigTxt)
	if o.Console && !(o.NoModules && b.ConsoleNeeds != "") {
		out = append(out, b.ConsoleConfigTxt...)
	}
	if o.KernelPPSPin != 0 {
		out = append(out, PPSOverlay(o.KernelPPSPin))
	}
	return out
}

// ConfigTxtSections renders the config.txt lines of every board in one
// file, with conditional sections so that one SD card serves them all:
// "[all]", then per family ([pi4]) the lines all its models share, then
// per model ([pi400]) the lines only it needs, then "[all]" again so that
// whatever follows applies everywhere. The firmware applies a section
// when its filter matches the board it boots on.
func ConfigTxtSections(o ConfigTxtOptions) []string {
	out := []string{"[all]"}
	var families []string
	members := map[string][]Board{}
	for _, b := range boards {
		if _, ok := members[b.Family]; !ok {
			families = append(families, b.Family)
		}
		members[b.Family] = append(members[b.Family], b)
	}
	for _, f := range families {
		common := members[f][0].lines(o)
		for _, b := range members[f][1:] {
			l := b.lines(o)
			common = slices.DeleteFunc(common, func(s string) bool { return !slices.Contains(l, s) })
		}
		if len(common) > 0 {
			out = append(out, "["+f+"]")
			out = append(out, common...)
		}
		for _, b := range members[f] {
			extra := slices.DeleteFunc(b.lines(o), func(s string) bool { return slices.Contains(common, s) })
			if len(extra) > 0 {
				// TestConfigTxtSections: a board with extra lines has a
				// Filter of its own.
				out = append(out, "["+b.Filter+"]")
				out = append(out, extra...)
			}
		}
	}
	return append(out, "[all]")
}

// ImageConfigTxt are the config.txt lines of the gokrazy SD image
// (image/gpsntp/config.json BootloaderExtraLines): the GPS UART and the
// status console of every board, PPS through the GPIO character device
// (gokrazy's kernel.rpi has no pps-gpio driver, and the overlay would
// hold the pin), and no console that needs a module (the kernel has no
// g_serial).
func ImageConfigTxt() []string {
	return ConfigTxtSections(ConfigTxtOptions{Console: true, NoModules: true})
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
// disable-bt gives GPIO 14/15 the PL011 (ttyAMA0, serial0) and disables
// the mini UART; Raspberry Pi OS also needs hciuart disabled.
var btPiConfig = []string{"enable_uart=1", "dtoverlay=disable-bt"}

// Pi 5 family: Bluetooth has its own UART; GPIO 14/15 is RP1's UART0
// (ttyAMA0), off by default; serial0 is the debug connector's UART10.
// The uart0-pi5 overlay, not `dtparam=uart0=on`: in config.txt a dtparam
// that follows a dtoverlay sets a parameter of that overlay, and ours
// follow the user's lines (Raspberry Pi OS's own config.txt loads
// vc4-kms-v3d), so the dtparam would not reach the base device tree.
var pi5Config = []string{"dtoverlay=uart0-pi5"}

// Status consoles. With the PL011 on the GPS and the mini UART off, a Pi 3
// or Zero 2 W has no UART left on the header (the mini UART can only use
// GPIO 14/15 there). The BCM2711 has four more PL011s (uart2–5): uart2 is
// on the HAT ID EEPROM pins, uart3 on GPIO 4 (the Adafruit HAT's PPS),
// uart4 on SPI0; uart5 on GPIO 12/13 is free on both GPS HATs. Raspberry
// Pi kernels from 6.0 name uartN ttyAMAN (raspberrypi/linux#5436, #6352).
// RP1 on the Pi 5 family has uart4 on the same GPIO 12/13 (uart4-pi5);
// the Pi 5 has a dedicated debug UART (ttyAMA10, the 3-pin connector), the
// CM5 IO board has none fitted (meta-raspberrypi#1555) and we found none
// documented on the Pi 500.
const (
	pin3233      = "header pins 32 (TXD, GPIO 12) and 33 (RXD, GPIO 13), 3.3 V"
	uart5Note    = "UART5 on " + pin3233 + "; kernels before 6.0 call it ttyAMA1"
	uart4Pi5Note = "RP1 UART4 on " + pin3233
	noUARTNote   = "no UART is free on the header while the PL011 carries the GPS (the mini UART can only use GPIO 14/15): " +
		"use a USB serial adapter (console /dev/ttyUSB0) or HDMI (console /dev/tty1)"
	gadgetNeeds = "the g_serial USB gadget: modules-load=dwc2,g_serial in cmdline.txt (Raspberry Pi OS); " +
		"gokrazy's kernel.rpi has dwc2 but no g_serial, so the SD image has no USB console"
	gadgetNote = "USB gadget serial on the micro-USB port marked USB (not PWR IN); the other end sees a CDC ACM port (/dev/ttyACM0, a COM port)"
)

var boards = []Board{
	{Name: "pi0-2w", Title: "Raspberry Pi Zero 2 W", Models: []string{"Raspberry Pi Zero 2 W"},
		UART: "/dev/ttyAMA0", Serial0: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2835, ConfigTxt: btPiConfig,
		Console: "/dev/ttyGS0", ConsoleConfigTxt: []string{"dtoverlay=dwc2"}, ConsoleNeeds: gadgetNeeds, ConsoleNote: gadgetNote,
		Family: "pi02"},
	{Name: "pi3b", Title: "Raspberry Pi 3 Model B", Models: []string{"Raspberry Pi 3 Model B"},
		UART: "/dev/ttyAMA0", Serial0: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2835, ConfigTxt: btPiConfig,
		ConsoleNote: noUARTNote, Family: "pi3"},
	{Name: "pi3b+", Title: "Raspberry Pi 3 Model B+", Models: []string{"Raspberry Pi 3 Model B Plus"},
		UART: "/dev/ttyAMA0", Serial0: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2835, ConfigTxt: btPiConfig,
		ConsoleNote: noUARTNote, Family: "pi3"},
	{Name: "pi3a+", Title: "Raspberry Pi 3 Model A+", Models: []string{"Raspberry Pi 3 Model A Plus"},
		UART: "/dev/ttyAMA0", Serial0: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2835, ConfigTxt: btPiConfig,
		ConsoleNote: noUARTNote, Family: "pi3"},
	{Name: "pi4b", Title: "Raspberry Pi 4 Model B", Models: []string{"Raspberry Pi 4 Model B"},
		UART: "/dev/ttyAMA0", Serial0: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2711, ConfigTxt: btPiConfig,
		Console: "/dev/ttyAMA5", ConsoleConfigTxt: []string{"dtoverlay=uart5"}, ConsoleNote: uart5Note, Family: "pi4"},
	{Name: "pi400", Title: "Raspberry Pi 400", Models: []string{"Raspberry Pi 400"},
		UART: "/dev/ttyAMA0", Serial0: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2711, ConfigTxt: btPiConfig,
		Console: "/dev/ttyAMA5", ConsoleConfigTxt: []string{"dtoverlay=uart5"}, ConsoleNote: uart5Note, Family: "pi4", Filter: "pi400"},
	{Name: "cm4", Title: "Raspberry Pi Compute Module 4", Models: []string{"Raspberry Pi Compute Module 4", "Raspberry Pi Compute Module 4S"},
		UART: "/dev/ttyAMA0", Serial0: "/dev/ttyAMA0", PPSPin: 18, GPIOChip: chipBCM2711, ConfigTxt: btPiConfig,
		Console: "/dev/ttyAMA5", ConsoleConfigTxt: []string{"dtoverlay=uart5"}, ConsoleNote: uart5Note + " (on the carrier's GPIO header)", Family: "pi4", Filter: "cm4"},
	{Name: "pi5", Title: "Raspberry Pi 5", Models: []string{"Raspberry Pi 5 Model B"},
		UART: "/dev/ttyAMA0", Serial0: "/dev/ttyAMA10", PPSPin: 18, GPIOChip: chipRP1, ConfigTxt: pi5Config,
		Console: "/dev/ttyAMA10", ConsoleNote: "the 3-pin debug UART connector between the HDMI ports (Raspberry Pi Debug Probe or a 3.3 V USB serial cable)",
		Family: "pi5", PPSOffsetNs: 11_000},
	{Name: "pi500", Title: "Raspberry Pi 500", Models: []string{"Raspberry Pi 500"},
		UART: "/dev/ttyAMA0", Serial0: "/dev/ttyAMA10", PPSPin: 18, GPIOChip: chipRP1, ConfigTxt: pi5Config,
		Console: "/dev/ttyAMA4", ConsoleConfigTxt: []string{"dtoverlay=uart4-pi5"}, ConsoleNote: uart4Pi5Note,
		Family: "pi5", Filter: "pi500", PPSOffsetNs: 11_000},
	{Name: "cm5", Title: "Raspberry Pi Compute Module 5", Models: []string{"Raspberry Pi Compute Module 5"},
		UART: "/dev/ttyAMA0", Serial0: "/dev/ttyAMA10", PPSPin: 18, GPIOChip: chipRP1, ConfigTxt: pi5Config,
		Console: "/dev/ttyAMA4", ConsoleConfigTxt: []string{"dtoverlay=uart4-pi5"}, ConsoleNote: uart4Pi5Note + " (on the carrier's GPIO header)",
		Family: "pi5", Filter: "cm5", PPSOffsetNs: 11_000},
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
	b.ConsoleConfigTxt = slices.Clone(b.ConsoleConfigTxt)
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
