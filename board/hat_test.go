package board

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeTree writes a device tree as the firmware shows it under
// /proc/device-tree: NUL-terminated strings. hat nil: no hat node.
func fakeTree(t *testing.T, model string, hat *HATInfo) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s+"\x00"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	write("model", model)
	if hat != nil {
		if err := os.Mkdir(filepath.Join(dir, "hat"), 0o755); err != nil {
			t.Fatal(err)
		}
		write("hat/vendor", hat.Vendor)
		write("hat/product", hat.Product)
		write("hat/product_id", hat.ProductID)
		write("hat/product_ver", hat.ProductVer)
		write("hat/uuid", hat.UUID)
	}
	return dir
}

// The HATs as their EEPROMs might spell themselves (see hats: we match the
// maker and "GPS"), and one HAT that is not a GPS.
var (
	adafruitEEPROM   = &HATInfo{Vendor: "Adafruit Industries", Product: "Adafruit Ultimate GPS HAT", ProductID: "0x0001", ProductVer: "0x0001", UUID: "b0c1a0f3-0000-4000-8000-000000000001"}
	uputronicsEEPROM = &HATInfo{Vendor: "Uputronics Ltd", Product: "Raspberry Pi GPS/RTC Expansion Board", ProductID: "0x0001", ProductVer: "0x0006", UUID: "b0c1a0f3-0000-4000-8000-000000000002"}
	poeEEPROM        = &HATInfo{Vendor: "Raspberry Pi Ltd", Product: "Raspberry Pi PoE+ HAT", ProductID: "0x0004", ProductVer: "0x0001"}
)

// Done-when 2 of issue 12: for each listed model and each HAT, what is
// detected from a device tree matches the table: UART, PPS pin, GPIO chip,
// receiver, console device and config.txt lines. The expectations are
// written out here again, from the Raspberry Pi documentation, not read
// back from the table.
func TestDetectMachine(t *testing.T) {
	bt := []string{"enable_uart=1", "dtoverlay=disable-bt"}
	models := []struct {
		model, name, serial0, chip, console string
		lines                               []string // UART + console
	}{
		{"Raspberry Pi Zero 2 W Rev 1.0", "pi0-2w", "/dev/ttyAMA0", "pinctrl-bcm2835", "/dev/ttyGS0", append(bt, "dtoverlay=dwc2")},
		{"Raspberry Pi 3 Model B Rev 1.2", "pi3b", "/dev/ttyAMA0", "pinctrl-bcm2835", "", bt},
		{"Raspberry Pi 3 Model B Plus Rev 1.3", "pi3b+", "/dev/ttyAMA0", "pinctrl-bcm2835", "", bt},
		{"Raspberry Pi 3 Model A Plus Rev 1.1", "pi3a+", "/dev/ttyAMA0", "pinctrl-bcm2835", "", bt},
		{"Raspberry Pi 4 Model B Rev 1.5", "pi4b", "/dev/ttyAMA0", "pinctrl-bcm2711", "/dev/ttyAMA5", append(bt, "dtoverlay=uart5")},
		{"Raspberry Pi 400 Rev 1.1", "pi400", "/dev/ttyAMA0", "pinctrl-bcm2711", "/dev/ttyAMA5", append(bt, "dtoverlay=uart5")},
		{"Raspberry Pi Compute Module 4 Rev 1.1", "cm4", "/dev/ttyAMA0", "pinctrl-bcm2711", "/dev/ttyAMA5", append(bt, "dtoverlay=uart5")},
		{"Raspberry Pi 5 Model B Rev 1.0", "pi5", "/dev/ttyAMA10", "pinctrl-rp1", "/dev/ttyAMA10", []string{"dtoverlay=uart0-pi5"}},
		{"Raspberry Pi 500 Rev 1.0", "pi500", "/dev/ttyAMA10", "pinctrl-rp1", "/dev/ttyAMA4", []string{"dtoverlay=uart0-pi5", "dtoverlay=uart4-pi5"}},
		{"Raspberry Pi Compute Module 5 Rev 1.0", "cm5", "/dev/ttyAMA10", "pinctrl-rp1", "/dev/ttyAMA4", []string{"dtoverlay=uart0-pi5", "dtoverlay=uart4-pi5"}},
	}
	hatCases := []struct {
		name     string
		eeprom   *HATInfo
		hat      string // HAT.Name, "" none
		pin      uint32
		receiver string // "" none: the config's or generic
	}{
		{"no HAT", nil, "", 18, ""},
		{"Adafruit", adafruitEEPROM, "adafruit-gps", 4, "mtk3339"},
		{"Uputronics", uputronicsEEPROM, "uputronics-gps", 18, "ublox"},
		{"PoE HAT", poeEEPROM, "", 18, ""},
	}
	for _, m := range models {
		for _, h := range hatCases {
			t.Run(m.name+"/"+h.name, func(t *testing.T) {
				mach, err := ReadMachine(fakeTree(t, m.model, h.eeprom))
				if err != nil {
					t.Fatal(err)
				}
				if (mach.HAT == nil) != (h.eeprom == nil) || mach.HAT != nil && *mach.HAT != *h.eeprom {
					t.Errorf("ReadMachine HAT = %+v, want %+v", mach.HAT, h.eeprom)
				}
				b, ok := Detect(mach.Model)
				if !ok || b.Name != m.name {
					t.Fatalf("Detect(%q) = %q, %v, want %q", mach.Model, b.Name, ok, m.name)
				}
				var hat HAT
				if mach.HAT != nil {
					hat, _ = DetectHAT(*mach.HAT)
				}
				if hat.Name != h.hat || hat.Receiver != h.receiver {
					t.Errorf("DetectHAT(%v) = %q receiver %q, want %q receiver %q", mach.HAT, hat.Name, hat.Receiver, h.hat, h.receiver)
				}
				if h.receiver != "" {
					if _, ok := ReceiverByName(h.receiver); !ok {
						t.Errorf("HAT %s names receiver %q, which has no profile", hat.Name, h.receiver)
					}
				}
				b = b.WithHAT(hat)
				got := fmt.Sprint(b.UART, b.Serial0, b.PPSPin, b.GPIOChip, b.Console)
				want := fmt.Sprint("/dev/ttyAMA0", m.serial0, h.pin, m.chip, m.console)
				if got != want {
					t.Errorf("UART, serial0, PPS pin, chip, console = %s, want %s", got, want)
				}
				// The .deb's config.txt: the kernel PPS driver on the HAT's pin.
				wantLines := append(slices.Clone(m.lines), fmt.Sprintf("dtoverlay=pps-gpio,gpiopin=%d", h.pin))
				if got := b.ConfigTxtFor(b.PPSPin); !slices.Equal(got, wantLines) {
					t.Errorf("ConfigTxtFor(%d) = %q, want %q", b.PPSPin, got, wantLines)
				}
				// The image's config.txt, as the firmware of this model
				// reads it: UART and console, no pps-gpio, and no console
				// that needs a module.
				wantImage := m.lines
				if b.ConsoleNeeds != "" {
					wantImage = b.ConfigTxt
				}
				if got := applies(ImageConfigTxt(), b); !slices.Equal(got, wantImage) {
					t.Errorf("image config.txt as %s reads it = %q, want %q", m.name, got, wantImage)
				}
			})
		}
	}
}

// applies is what the firmware of board b takes from config.txt lines
// with conditional sections: a section applies when its filter is "all",
// b's family filter or b's own (Raspberry Pi documentation, config.txt
// conditional filters: [pi4] matches the 4B, 400 and CM4; [pi400] only
// the 400). Lines before any section apply everywhere.
func applies(lines []string, b Board) []string {
	var out []string
	on := true
	for _, l := range lines {
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") {
			f := l[1 : len(l)-1]
			on = f == "all" || f == b.Family || b.Filter != "" && f == b.Filter
			continue
		}
		if on {
			out = append(out, l)
		}
	}
	return out
}

// One file serves every board: rendered with any options, each board's
// firmware reads exactly its own lines, and the file ends in [all].
func TestConfigTxtSections(t *testing.T) {
	for _, o := range []ConfigTxtOptions{{}, {Console: true}, {Console: true, NoModules: true}, {KernelPPSPin: 18, Console: true}} {
		s := ConfigTxtSections(o)
		if s[0] != "[all]" || s[len(s)-1] != "[all]" {
			t.Errorf("ConfigTxtSections(%+v) = %q: want [all] first and last", o, s)
		}
		for _, l := range s {
			if l == "[]" {
				t.Errorf("ConfigTxtSections(%+v) has a section without a filter: a board with lines of its own needs Filter", o)
			}
		}
		for _, b := range Boards() {
			got, want := applies(s, b), b.lines(o)
			if !slices.Equal(sorted(got), sorted(want)) {
				t.Errorf("ConfigTxtSections(%+v) as %s reads it = %q, want %q in any order", o, b.Name, got, want)
			}
			// A dtparam after a dtoverlay sets a parameter of that
			// overlay, not of the base device tree.
			overlay := false
			for _, l := range got {
				overlay = overlay || strings.HasPrefix(l, "dtoverlay=")
				if overlay && strings.HasPrefix(l, "dtparam=") {
					t.Errorf("ConfigTxtSections(%+v) as %s reads it = %q: %s after an overlay", o, b.Name, got, l)
				}
			}
		}
	}
	// The Pi 5 needs uart0 on GPIO 14/15 in its own section; the Pi 3/4
	// lines stay out of it.
	pi5, _ := ByName("pi5")
	if got := applies(ImageConfigTxt(), pi5); !slices.Equal(got, []string{"dtoverlay=uart0-pi5"}) {
		t.Errorf("the image's config.txt on a Pi 5 = %q, want dtoverlay=uart0-pi5 only", got)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestDetectHATTolerant(t *testing.T) {
	for _, c := range []struct {
		vendor, product, want string
	}{
		{"Adafruit Industries", "Ultimate GPS HAT", "adafruit-gps"},
		{"ADAFRUIT", "ultimate gps hat v1.0", "adafruit-gps"},
		{"Uputronics", "GPS/RTC HAT", "uputronics-gps"},
		{"uputronics ltd.", "Raspberry Pi+ GPS Expansion Board", "uputronics-gps"},
		{"Adafruit Industries", "Adafruit PiTFT", ""},    // Adafruit, not a GPS
		{"Uputronics", "LoRa Expansion Board", ""},       // Uputronics, not a GPS
		{"Raspberry Pi Ltd", "Raspberry Pi GPS HAT", ""}, // a GPS, not a known one
		{"", "", ""},
	} {
		h, ok := DetectHAT(HATInfo{Vendor: c.vendor, Product: c.product})
		if h.Name != c.want || ok != (c.want != "") {
			t.Errorf("DetectHAT(%q, %q) = %q, %v, want %q", c.vendor, c.product, h.Name, ok, c.want)
		}
	}
}

func TestReadMachine(t *testing.T) {
	// No device tree (a PC): no error, nothing known.
	m, err := ReadMachine(filepath.Join(t.TempDir(), "none"))
	if err != nil || m.Model != "" || m.HAT != nil {
		t.Errorf("ReadMachine(missing) = %+v, %v, want empty and nil", m, err)
	}
	// A hat node whose EEPROM has no vendor atom fields: present, empty.
	dir := fakeTree(t, "Raspberry Pi 4 Model B Rev 1.4", nil)
	os.Mkdir(filepath.Join(dir, "hat"), 0o755)
	m, err = ReadMachine(dir)
	if err != nil || m.Model != "Raspberry Pi 4 Model B Rev 1.4" || m.HAT == nil || *m.HAT != (HATInfo{}) {
		t.Errorf("ReadMachine(empty hat node) = %+v, %v", m, err)
	}
	// An unreadable model is an error that says what it read.
	dir = t.TempDir()
	os.Mkdir(filepath.Join(dir, "model"), 0o755) // a directory: read fails
	if _, err := ReadMachine(dir); err == nil || !strings.Contains(err.Error(), "board: read model") {
		t.Errorf("ReadMachine(model is a directory) = %v, want a read model error", err)
	}
	// This machine's own tree, if it has one.
	if m, err := ReadMachine(DeviceTreeDir); err != nil || strings.ContainsRune(m.Model, 0) {
		t.Errorf("ReadMachine(%s) = %+v, %v", DeviceTreeDir, m, err)
	}
}
