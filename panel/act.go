package panel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// LEDClassDir is where Linux lists LEDs (Documentation/leds/leds-class.rst).
const LEDClassDir = "/sys/class/leds"

// actNames are the board's activity LED as kernels name it: ACT on
// Raspberry Pi kernels from 6.1 (and the Pi 5), led0 before.
var actNames = []string{"ACT", "led0"}

// actLED is the board's ACT LED as a gpio.PinOut: the kernel LED class
// with its trigger set to none, lit through brightness. periph's sysfs.LED
// writes brightness but leaves the trigger (mmc0: SD card activity) on,
// which would fight our pattern. Writes go to the open attribute files,
// which sysfs reads from offset 0 each time (pwrite at 0).
type actLED struct {
	name       string
	brightness *os.File
	on         []byte // max_brightness
}

// openACT finds the ACT LED under dir (LEDClassDir; tests pass their own)
// and takes it from its trigger.
func openACT(dir string) (*actLED, error) {
	var path string
	for _, n := range actNames {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		return nil, fmt.Errorf("led act: no %s in %s (is this a Raspberry Pi?)", strings.Join(actNames, " or "), dir)
	}
	max, err := os.ReadFile(filepath.Join(path, "max_brightness"))
	if errors.Is(err, fs.ErrNotExist) {
		max = []byte("1")
	} else if err != nil {
		return nil, fmt.Errorf("led act: %w", err)
	}
	on := strings.TrimSpace(string(max))
	if n, err := strconv.Atoi(on); err != nil || n <= 0 {
		on = "1"
	}
	if err := os.WriteFile(filepath.Join(path, "trigger"), []byte("none"), 0); err != nil {
		return nil, fmt.Errorf("led act: set trigger none: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(path, "brightness"), os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("led act: %w", err)
	}
	return &actLED{name: filepath.Base(path), brightness: f, on: []byte(on)}, nil
}

func (a *actLED) Out(l gpio.Level) error {
	v := []byte("0")
	if l {
		v = a.on
	}
	if _, err := a.brightness.WriteAt(v, 0); err != nil {
		return fmt.Errorf("led act: %w", err)
	}
	return nil
}

func (a *actLED) Close() error { return a.brightness.Close() }

// The rest of gpio.PinOut: an LED has one function.
func (a *actLED) String() string                        { return "LED " + a.name }
func (a *actLED) Name() string                          { return a.name }
func (a *actLED) Number() int                           { return -1 }
func (a *actLED) Function() string                      { return "LED" }
func (a *actLED) Halt() error                           { return nil }
func (a *actLED) PWM(gpio.Duty, physic.Frequency) error { return errors.New("led act: no PWM") }
func (a *actLED) Func() pin.Func                        { return gpio.OUT }
func (a *actLED) SupportedFuncs() []pin.Func            { return []pin.Func{gpio.OUT} }
func (a *actLED) SetFunc(f pin.Func) error              { return errors.New("led act: fixed function") }

var _ gpio.PinOut = (*actLED)(nil)
