package panel

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/host/v3/gpioioctl"
	"periph.io/x/host/v3/sysfs"
)

// Config is what the panel drives: the `led` and `display` directives and
// the board's GPIO chip label (board.Board.GPIOChip; "" where no board is
// detected: the first pinctrl chip).
type Config struct {
	LED     config.LED
	Display config.Display
	Chip    string
}

// Alarm is a front panel fault for the status view: Key for the
// collector's raise/clear bookkeeping, Text for people.
type Alarm struct {
	Key, Text string
}

// How often the LED's level is computed (its shortest step is 125 ms)
// and how often a missing device is looked for again.
const (
	ledTick     = 25 * time.Millisecond
	retryPeriod = 30 * time.Second
)

// hardware opens the devices; tests give fakes.
type hardware struct {
	gpioOut func(chip string, line int) (gpio.PinOut, io.Closer, error)
	act     func() (gpio.PinOut, io.Closer, error)
	i2cBus  func(n int) (i2c.BusCloser, error)
}

var realHardware = hardware{
	gpioOut: OpenOutput,
	act: func() (gpio.PinOut, io.Closer, error) {
		a, err := openACT(LEDClassDir)
		if err != nil {
			return nil, nil, err
		}
		return a, a, nil
	},
	i2cBus: func(n int) (i2c.BusCloser, error) { return sysfs.NewI2C(n) },
}

// Panel is the front panel: a status LED and an OLED display, each
// optional. Hardware that is missing or fails is an alarm (Alarms),
// looked for again every 30 s; the panel never stops the daemon.
type Panel struct {
	cfg Config
	log *slog.Logger
	hw  hardware

	mu      sync.Mutex
	alarms  map[string]string // key → text
	ledPin  gpio.PinOut
	ledC    io.Closer
	display *Display
	bus     io.Closer
}

// Open opens what cfg names, as root before the privilege drop (a reopen
// later runs as the daemon's user and may lack the permission: the alarm
// then says so). periph's host drivers are initialised only for `led
// gpio`. The error is for a configuration Open cannot use; missing
// hardware is an alarm, not an error.
func Open(cfg Config, log *slog.Logger) (*Panel, error) {
	return open(cfg, log, realHardware)
}

func open(cfg Config, log *slog.Logger, hw hardware) (*Panel, error) {
	switch cfg.LED.Kind {
	case config.LEDNone, config.LEDGPIO, config.LEDACT:
	default:
		return nil, fmt.Errorf("panel: unknown led kind %q", cfg.LED.Kind)
	}
	switch cfg.Display.Model {
	case "", "ssd1306":
	default:
		return nil, fmt.Errorf("panel: unknown display %q", cfg.Display.Model)
	}
	p := &Panel{cfg: cfg, log: log, hw: hw, alarms: map[string]string{}}
	p.openLED()
	p.openDisplay()
	return p, nil
}

// Alarms are the panel's faults now, nil-safe.
func (p *Panel) Alarms() []Alarm {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Alarm
	for _, k := range []string{"panel-led", "panel-display"} {
		if t, ok := p.alarms[k]; ok {
			out = append(out, Alarm{k, t})
		}
	}
	return out
}

func (p *Panel) setAlarm(key, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if text == "" {
		delete(p.alarms, key)
	} else {
		p.alarms[key] = text
	}
}

func (p *Panel) openLED() {
	var (
		pin  gpio.PinOut
		c    io.Closer
		err  error
		what string
	)
	switch p.cfg.LED.Kind {
	case config.LEDNone:
		return
	case config.LEDGPIO:
		chip := p.cfg.LED.Chip
		if chip == "" {
			chip = p.cfg.Chip
		}
		what = fmt.Sprintf("led gpio %d", p.cfg.LED.Pin)
		pin, c, err = p.hw.gpioOut(chip, p.cfg.LED.Pin)
	case config.LEDACT:
		what = "led act"
		pin, c, err = p.hw.act()
	}
	if err != nil {
		p.setAlarm("panel-led", fmt.Sprintf("status LED (%s) cannot be driven: %v; serving as usual, retrying every %s", what, err, retryPeriod))
		return
	}
	p.setAlarm("panel-led", "")
	p.ledPin, p.ledC = pin, c
}

func (p *Panel) openDisplay() {
	d := p.cfg.Display
	if d.Model == "" {
		return
	}
	bus, err := p.hw.i2cBus(d.Bus)
	if err == nil {
		var disp *Display
		if disp, err = NewDisplay(bus, d.Addr, d.NightFromH, d.NightToH); err == nil {
			p.setAlarm("panel-display", "")
			p.display, p.bus = disp, bus
			return
		}
		bus.Close()
	}
	p.setAlarm("panel-display", fmt.Sprintf("display ssd1306 at %#x on /dev/i2c-%d not answering (%v): check its wiring (header pins 3 SDA, 5 SCL), dtparam=i2c_arm=on in config.txt and the address (i2cdetect -y %d); serving as usual, retrying every %s",
		d.Addr, d.Bus, err, d.Bus, retryPeriod))
}

// Run drives the LED and the display until ctx ends, with get's status
// (nil until the daemon has one). It returns nil when ctx ends, leaving
// the LED off.
func (p *Panel) Run(ctx context.Context, get func() *ctl.Snapshot) error {
	var wg sync.WaitGroup
	if p.cfg.LED.Kind != config.LEDNone {
		wg.Go(func() { p.runLED(ctx, get) })
	}
	if p.cfg.Display.Model != "" {
		wg.Go(func() { p.runDisplay(ctx, get) })
	}
	wg.Wait()
	return nil
}

// runLED steps the LED every ledTick (on the monotonic clock). A write
// that fails drops the pin and raises the alarm; the pin is opened again
// after retryPeriod.
func (p *Panel) runLED(ctx context.Context, get func() *ctl.Snapshot) {
	t := time.NewTicker(ledTick)
	defer t.Stop()
	start := time.Now()
	var led *LED
	var lastTry time.Time
	for {
		if p.ledPin == nil && time.Since(lastTry) >= retryPeriod && !lastTry.IsZero() {
			p.openLED()
		}
		if p.ledPin != nil && led == nil {
			led = NewLED(p.ledPin)
		}
		if led != nil {
			if err := led.Step(get(), time.Since(start)); err != nil {
				p.setAlarm("panel-led", fmt.Sprintf("status LED write failed: %v; retrying every %s", err, retryPeriod))
				p.closeLED()
				led, lastTry = nil, time.Now()
			}
		} else if lastTry.IsZero() {
			lastTry = time.Now()
		}
		select {
		case <-ctx.Done():
			if p.ledPin != nil {
				_ = p.ledPin.Out(gpio.Low)
			}
			return
		case <-t.C:
		}
	}
}

// runDisplay redraws at each whole second of the wall clock.
func (p *Panel) runDisplay(ctx context.Context, get func() *ctl.Snapshot) {
	var lastTry time.Time
	for {
		now := time.Now()
		if p.display == nil && now.Sub(lastTry) >= retryPeriod {
			p.openDisplay()
			lastTry = now
		}
		if p.display != nil {
			if err := p.display.Show(get(), now); err != nil {
				p.setAlarm("panel-display", fmt.Sprintf("%v; retrying every %s", err, retryPeriod))
				p.closeDisplay()
				lastTry = now
			}
		}
		wait := now.Truncate(time.Second).Add(time.Second).Sub(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, time.Millisecond)):
		}
	}
}

func (p *Panel) closeLED() {
	if p.ledC != nil {
		p.ledC.Close()
	}
	p.ledPin, p.ledC = nil, nil
}

func (p *Panel) closeDisplay() {
	if p.bus != nil {
		p.bus.Close()
	}
	p.display, p.bus = nil, nil
}

// Close releases the LED and the display. Call it after Run returned.
func (p *Panel) Close() error {
	if p == nil {
		return nil
	}
	p.closeLED()
	p.closeDisplay()
	return nil
}

// OpenOutput claims line on the GPIO chip labelled chip ("": the first
// pinctrl chip) as an output through periph's gpioioctl, driven low. It
// initialises periph's registered drivers once (driverreg.Init); only
// gpioioctl and sysfs are linked in.
func OpenOutput(chip string, line int) (gpio.PinOut, io.Closer, error) {
	if _, err := driverreg.Init(); err != nil {
		return nil, nil, fmt.Errorf("periph: %w", err)
	}
	var c *gpioioctl.GPIOChip
	for _, ch := range gpioioctl.Chips {
		if ch.Label() == chip || ch.Path() == chip || (chip == "" && c == nil) {
			c = ch
		}
	}
	if len(gpioioctl.Chips) == 0 {
		return nil, nil, fmt.Errorf("no GPIO chips (/dev/gpiochip*) could be opened: not a board with a GPIO header, or no permission")
	}
	if c == nil {
		var labels []string
		for _, ch := range gpioioctl.Chips {
			labels = append(labels, ch.Label())
		}
		return nil, nil, fmt.Errorf("no GPIO chip labelled %q (have %v)", chip, labels)
	}
	if line < 0 || line >= c.LineCount() {
		return nil, nil, fmt.Errorf("%s (%s) has lines 0–%d, not %d", c.Path(), c.Label(), c.LineCount()-1, line)
	}
	l := c.ByNumber(line)
	if err := l.Out(gpio.Low); err != nil {
		return nil, nil, fmt.Errorf("%s line %d: %w", c.Path(), line, err)
	}
	return l, closerFunc(func() error { l.Close(); return nil }), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
