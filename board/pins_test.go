package board

import (
	"fmt"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/host/v3/rpi"
)

func TestParsePin(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"4", 4}, {"GPIO4", 4}, {"gpio4", 4}, {"GPIO_4", 4}, {"BCM4", 4}, {"P1_7", 4}, {"p1-7", 4}, {"J8_7", 4}, {"PIN7", 4},
		{"18", 18}, {"P1_12", 18}, {"GPIO18", 18}, {"P1_27", 0}, {"P1_40", 21}, {"0", 0}, {"45", 45}, {"63", 63},
	} {
		got, err := ParsePin(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParsePin(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want []string // substrings of the error
	}{
		{"P1_6", []string{"header pin P1_6 is ground, not a GPIO", "P1_7 is GPIO4"}},
		{"P1_1", []string{"P1_1", "3.3 V", "P1_3 is GPIO2"}},
		{"P1_2", []string{"P1_2", "5 V"}},
		{"J8_39", []string{"J8_39", "(P1_39)", "ground", "P1_40 is GPIO21"}},
		{"P1_41", []string{"P1_41", "1–40"}},
		{"P1_0", []string{"1–40"}},
		{"64", []string{"0–63"}},
		{"-1", []string{"0–63"}},
		{"GPIO", []string{"BCM GPIO number"}},
		{"04x", []string{"04x"}},
		{"", []string{"BCM GPIO number"}},
	} {
		_, err := ParsePin(tc.in)
		if err == nil {
			t.Errorf("ParsePin(%q) = nil error, want one naming %q", tc.in, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParsePin(%q) = %v, want it to contain %q", tc.in, err, w)
			}
		}
	}
}

// periph.io's rpi package declares the header as P1_1 … P1_40: GPIO pins
// are bcm283x pins whose Number() is the BCM number, the others are
// pin.V3_3, pin.V5 and pin.GROUND. The variables are static: nothing here
// initialises a periph driver.
func TestHeaderAgreesWithPeriph(t *testing.T) {
	periph := []pin.Pin{
		rpi.P1_1, rpi.P1_2, rpi.P1_3, rpi.P1_4, rpi.P1_5, rpi.P1_6, rpi.P1_7, rpi.P1_8, rpi.P1_9, rpi.P1_10,
		rpi.P1_11, rpi.P1_12, rpi.P1_13, rpi.P1_14, rpi.P1_15, rpi.P1_16, rpi.P1_17, rpi.P1_18, rpi.P1_19, rpi.P1_20,
		rpi.P1_21, rpi.P1_22, rpi.P1_23, rpi.P1_24, rpi.P1_25, rpi.P1_26, rpi.P1_27, rpi.P1_28, rpi.P1_29, rpi.P1_30,
		rpi.P1_31, rpi.P1_32, rpi.P1_33, rpi.P1_34, rpi.P1_35, rpi.P1_36, rpi.P1_37, rpi.P1_38, rpi.P1_39, rpi.P1_40,
	}
	supply := map[pin.Pin]string{pin.V3_3: "3.3 V", pin.V5: "5 V", pin.GROUND: "ground"}
	if len(Header()) != len(periph) {
		t.Fatalf("len(Header()) = %d, want %d", len(Header()), len(periph))
	}
	for i, p := range Header() {
		pp := periph[i]
		if p.Pin != i+1 {
			t.Errorf("Header()[%d].Pin = %d, want %d", i, p.Pin, i+1)
		}
		if g, ok := pp.(gpio.PinIO); ok {
			if p.GPIO != g.Number() || g.Name() != fmt.Sprintf("GPIO%d", p.GPIO) {
				t.Errorf("P1_%d: ours GPIO %d, periph's %s (number %d)", p.Pin, p.GPIO, g.Name(), g.Number())
			}
			continue
		}
		if p.GPIO != -1 || p.Supply != supply[pp] {
			t.Errorf("P1_%d: ours GPIO %d supply %q, periph's %s", p.Pin, p.GPIO, p.Supply, pp)
		}
		// Every non-GPIO pin is refused by name.
		if _, err := ParsePin(fmt.Sprintf("P1_%d", p.Pin)); err == nil {
			t.Errorf("ParsePin(P1_%d) accepted periph's %s", p.Pin, pp)
		}
	}
	// And every GPIO pin reads back through ParsePin and HeaderPinOf.
	for _, p := range Header() {
		if p.GPIO < 0 {
			continue
		}
		if got, err := ParsePin(fmt.Sprintf("P1_%d", p.Pin)); err != nil || got != p.GPIO {
			t.Errorf("ParsePin(P1_%d) = %d, %v, want %d", p.Pin, got, err, p.GPIO)
		}
		if hp, ok := HeaderPinOf(p.GPIO); !ok || hp.Pin != p.Pin {
			t.Errorf("HeaderPinOf(%d) = %v, %v, want pin %d", p.GPIO, hp, ok, p.Pin)
		}
	}
}
