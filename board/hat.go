package board

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// HAT is a GPS add-on board that says what it is through the HAT ID
// EEPROM: the firmware reads the EEPROM at boot and publishes its vendor
// info atom under /proc/device-tree/hat (raspberrypi/hats,
// eeprom-format.md and devicetree-guide.md).
type HAT struct {
	// Name is the short identifier for logs and status.
	Name string
	// Title is the product as people say it.
	Title string
	// Vendor and Product match the EEPROM's vendor and product strings:
	// each must be contained in its field, ignoring case. Substrings,
	// because we have not seen a dump of either EEPROM: vendors write
	// "Foo Ltd" one year and "Foo Ltd." the next.
	Vendor, Product string
	// PPSPin is the BCM GPIO the HAT wires the receiver's PPS to.
	PPSPin uint32
	// Receiver is the receiver profile's name (ReceiverByName).
	Receiver string
	// Note is what an operator should know: where the strings came from
	// and what happens on boards without the EEPROM.
	Note string
}

// Where the match strings come from. We found no published dump of either
// EEPROM (searched: raspberrypi/hats, Adafruit's learn guide and product
// page, Uputronics' store pages, gpsd and chrony user reports); the HAT
// specification only says the vendor atom carries the maker's and the
// product's names. So we match the maker's name and "GPS", which both
// product names contain, and nothing narrower.
var hats = []HAT{
	{
		Name: "adafruit-gps", Title: "Adafruit Ultimate GPS HAT",
		Vendor: "adafruit", Product: "gps",
		// PPS on GPIO 4, the MTK3339 (PA6H/PA1616S) at 9600 baud on
		// GPIO 14/15: Adafruit's guide, as this table had it before
		// (Receiver.HATPPSPin), and a gpsd build's notes ("mtk3301 |
		// Adafruit Ultimate GPS, PPS @ GPIO4").
		PPSPin: 4, Receiver: "mtk3339",
		Note: "Some revisions carry no programmed ID EEPROM: then nothing is detected, and the configuration must say `pps gpio 4` and `receiver mtk3339`.",
	},
	{
		Name: "uputronics-gps", Title: "Uputronics GPS/RTC HAT",
		Vendor: "uputronics", Product: "gps",
		// u-blox M8 on GPIO 14/15, PPS on GPIO 18, an RTC on I2C: a
		// gpsd build's notes ("magic_hat | Uputronics, U-blox M8, PPS @
		// GPIO18") and the pps-gpio overlay's default it was chosen to
		// match.
		PPSPin: 18, Receiver: "ublox",
		Note: "Boards without a programmed EEPROM are not detected: say `receiver ublox` (GPIO 18 is the default PPS pin anyway).",
	},
}

// HATs returns every known HAT.
func HATs() []HAT { return slices.Clone(hats) }

// HATInfo is what the firmware publishes from a HAT's ID EEPROM.
type HATInfo struct {
	Vendor, Product, ProductID, ProductVer, UUID string
}

func (h HATInfo) String() string {
	return fmt.Sprintf("%q %q (product id %s, version %s)", h.Vendor, h.Product, h.ProductID, h.ProductVer)
}

// DetectHAT maps a HAT's EEPROM strings to a known GPS HAT.
func DetectHAT(info HATInfo) (HAT, bool) {
	v, p := strings.ToLower(info.Vendor), strings.ToLower(info.Product)
	for _, h := range hats {
		if strings.Contains(v, h.Vendor) && strings.Contains(p, h.Product) {
			return h, true
		}
	}
	return HAT{}, false
}

// WithHAT is b with the HAT's PPS pin: the HAT's wiring wins over the
// board's default.
func (b Board) WithHAT(h HAT) Board {
	b = clone(b)
	if h.PPSPin != 0 {
		b.PPSPin = h.PPSPin
	}
	return b
}

// DeviceTreeDir is where Linux shows the device tree the firmware passed.
const DeviceTreeDir = "/proc/device-tree"

// Machine is what the device tree says about the machine.
type Machine struct {
	// Model is the model string, NUL and whitespace trimmed ("" on a
	// machine without a device tree).
	Model string
	// HAT is the ID EEPROM's vendor info, nil without a HAT (or with one
	// whose EEPROM is blank or missing).
	HAT *HATInfo
}

// ReadMachine reads the model and the HAT's vendor info from a device
// tree directory (DeviceTreeDir; tests pass their own). A missing tree is
// not an error: Model is "" then.
func ReadMachine(dir string) (Machine, error) {
	var m Machine
	model, err := os.ReadFile(filepath.Join(dir, "model"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return m, nil
	case err != nil:
		return m, fmt.Errorf("board: read model: %w", err)
	}
	m.Model = dtString(model)
	hat := filepath.Join(dir, "hat")
	if _, err := os.Stat(hat); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return m, nil
		}
		return m, fmt.Errorf("board: read HAT: %w", err)
	}
	info := HATInfo{}
	for _, f := range []struct {
		name string
		to   *string
	}{{"vendor", &info.Vendor}, {"product", &info.Product}, {"product_id", &info.ProductID}, {"product_ver", &info.ProductVer}, {"uuid", &info.UUID}} {
		b, err := os.ReadFile(filepath.Join(hat, f.name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return m, fmt.Errorf("board: read HAT: %w", err)
		}
		*f.to = dtString(b)
	}
	m.HAT = &info
	return m, nil
}

// dtString is a device-tree string property: NUL-terminated, possibly a
// list of NUL-separated strings (the first counts).
func dtString(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
