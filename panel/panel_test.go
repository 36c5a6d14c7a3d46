package panel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// A missing display and an LED that cannot be opened are alarms; Open
// still succeeds and Run serves until stopped.
func TestOpenMissingHardwareIsAnAlarm(t *testing.T) {
	hw := hardware{
		gpioOut: func(chip string, line int) (gpio.PinOut, io.Closer, error) {
			return nil, nil, errors.New("no GPIO chip labelled \"pinctrl-rp1\"")
		},
		// No device answers: periph's playback with no transactions
		// fails the first one, as a bus with nothing at 0x3c does.
		i2cBus: func(n int) (i2c.BusCloser, error) { return &i2ctest.Playback{DontPanic: true}, nil },
	}
	p, err := open(Config{LED: config.LED{Kind: config.LEDGPIO, Pin: 17}, Display: config.Display{Model: "ssd1306", Bus: 1, Addr: 0x3c}, Chip: "pinctrl-rp1"},
		slog.New(slog.DiscardHandler), hw)
	if err != nil {
		t.Fatalf("open = %v, want a panel with alarms", err)
	}
	al := p.Alarms()
	if len(al) != 2 || al[0].Key != "panel-led" || al[1].Key != "panel-display" ||
		!strings.Contains(al[0].Text, "status LED (led gpio 17) cannot be driven: no GPIO chip") ||
		!strings.Contains(al[1].Text, "display ssd1306 at 0x3c on /dev/i2c-1 not answering") ||
		!strings.Contains(al[1].Text, "dtparam=i2c_arm=on") {
		t.Errorf("Alarms() = %q", al)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, func() *ctl.Snapshot { return nil }) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil at the stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the stop")
	}
	var none *Panel
	if none.Alarms() != nil || none.Close() != nil {
		t.Error("a nil Panel has alarms or fails to close")
	}
}

// Run drives the LED from the status it is given, and leaves it off.
func TestRunDrivesLED(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO17", Num: 17}
	hw := hardware{gpioOut: func(chip string, line int) (gpio.PinOut, io.Closer, error) {
		if chip != "pinctrl-bcm2711" || line != 17 {
			t.Errorf("gpioOut(%q, %d), want the board's chip and line 17", chip, line)
		}
		return pin, nopCloser{}, nil
	}}
	p, err := open(Config{LED: config.LED{Kind: config.LEDGPIO, Pin: 17}, Chip: "pinctrl-bcm2711"}, slog.New(slog.DiscardHandler), hw)
	if err != nil || len(p.Alarms()) != 0 {
		t.Fatalf("open = %v, alarms %q", err, p.Alarms())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	steady := &ctl.Snapshot{State: "pps", Synchronised: true}
	go func() { done <- p.Run(ctx, func() *ctl.Snapshot { return steady }) }()
	deadline := time.Now().Add(10 * time.Second)
	for pin.Read() != gpio.High && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pin.Read() != gpio.High {
		t.Errorf("LED not lit for a PPS-synchronised status")
	}
	cancel()
	<-done
	if pin.Read() != gpio.Low {
		t.Errorf("LED lit after Run returned")
	}
}

func TestACT(t *testing.T) {
	dir := t.TempDir()
	led := filepath.Join(dir, "ACT")
	os.Mkdir(led, 0o755)
	for name, v := range map[string]string{"trigger": "none [mmc0] timer", "brightness": "0", "max_brightness": "255\n"} {
		os.WriteFile(filepath.Join(led, name), []byte(v), 0o644)
	}
	a, err := openACT(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if b, _ := os.ReadFile(filepath.Join(led, "trigger")); string(b) != "none" {
		t.Errorf("trigger = %q, want none (else mmc0 fights the pattern)", b)
	}
	for _, tc := range []struct {
		l    gpio.Level
		want string
	}{{gpio.High, "255"}, {gpio.Low, "0"}, {gpio.High, "255"}} {
		if err := a.Out(tc.l); err != nil {
			t.Fatal(err)
		}
		// sysfs takes each write whole at offset 0; a plain file keeps
		// what is longest, so compare the prefix.
		if b, _ := os.ReadFile(filepath.Join(led, "brightness")); !strings.HasPrefix(string(b), tc.want) {
			t.Errorf("after Out(%v) brightness = %q, want %q", tc.l, b, tc.want)
		}
	}
	if _, err := openACT(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no ACT or led0") {
		t.Errorf("openACT(empty) = %v, want no ACT or led0", err)
	}
	// Kernels before 6.1 call it led0.
	dir2 := t.TempDir()
	os.Mkdir(filepath.Join(dir2, "led0"), 0o755)
	os.WriteFile(filepath.Join(dir2, "led0", "trigger"), nil, 0o644)
	os.WriteFile(filepath.Join(dir2, "led0", "brightness"), nil, 0o644)
	if a, err := openACT(dir2); err != nil || a.Name() != "led0" {
		t.Errorf("openACT(led0) = %v, %v", a, err)
	}
}
