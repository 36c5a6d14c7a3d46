package main

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
	"github.com/gpsntp/gpsntp/pps"
)

// buildDate is the floor for GPS week-rollover correction: no receiver can
// tell us a time before this binary was built. It is the later of the
// release floor (gps.DefaultReferenceDate, the one hard-coded date) and the
// commit time Go stamps into a build from a git checkout (vcs.time).
func buildDate() time.Time {
	floor := gps.DefaultReferenceDate
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key != "vcs.time" {
				continue
			}
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil && t.After(floor) {
				floor = t.UTC()
			}
		}
	}
	return floor
}

// defaultRules apply when the configuration has no restrict line.
var defaultRules = func() []restrict.Rule {
	var rs []restrict.Rule
	for _, l := range [][]string{{"default", "noquery"}, {"127.0.0.1"}, {"::1"}} {
		r, err := restrict.ParseRestrict(l)
		if err != nil {
			panic(err) // a constant above
		}
		rs = append(rs, r)
	}
	return rs
}()

// accessRules turns the config's restrict and discard lines into the
// server's table (defaultRules when there are none) and discard limits.
func accessRules(cfg config.Config) (*restrict.Table, *restrict.Discard, error) {
	var rules []restrict.Rule
	var errs []error
	for _, r := range cfg.Restricts {
		rule, err := restrict.ParseRestrict(r.Args)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: restrict: %w", r.Pos, err))
			continue
		}
		rules = append(rules, rule)
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	if len(rules) == 0 {
		// No restrict lines: NTP for everyone, unlimited, as ntpd serves
		// then, but mode 6 (ntpq) from loopback only: a query answer is
		// larger than its request, so it is no service for the Internet.
		rules = defaultRules
	}
	table := restrict.NewTable(rules)
	var discard *restrict.Discard
	if cfg.Discard != nil {
		d, err := restrict.ParseDiscard(cfg.Discard)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: discard: %w", cfg.DiscardPos, err)
		}
		discard = &d
	}
	return table, discard, nil
}

// hardware is what the daemon found itself on and the profiles it took
// from that: the board (its PPS pin already the HAT's, if one was found),
// the HAT, the receiver profile.
type hardware struct {
	machine  board.Machine
	board    board.Board
	hat      board.HAT
	receiver board.Receiver
	// boardFrom and receiverFrom say where each choice came from, for
	// the log: "detected", "config", "HAT", "default".
	boardFrom, receiverFrom string
}

// detectHardware resolves the board (`board auto` reads the device tree
// at dir, board.DeviceTreeDir outside tests), the HAT (from the device
// tree whatever `board` says: its wiring overrides the board's PPS pin)
// and the receiver profile (`gps … receiver NAME`, else the HAT's, else
// generic). A machine without a device tree is no error: no board.
func detectHardware(cfg config.Config, dir string) (hardware, error) {
	var hw hardware
	m, err := board.ReadMachine(dir)
	if err != nil {
		return hw, err
	}
	hw.machine = m
	switch cfg.Board {
	case "auto":
		if b, ok := board.Detect(m.Model); ok {
			hw.board, hw.boardFrom = b, "detected"
		}
	default:
		b, ok := board.ByName(cfg.Board)
		if !ok {
			return hw, fmt.Errorf("board %s: unknown board (known: %s)", cfg.Board, boardNames())
		}
		hw.board, hw.boardFrom = b, "config"
	}
	if m.HAT != nil {
		if h, ok := board.DetectHAT(*m.HAT); ok {
			hw.hat = h
			hw.board = hw.board.WithHAT(h)
		}
	}
	name, from := cfg.GPS.Receiver, "config"
	switch {
	case name != "":
	case hw.hat.Receiver != "":
		name, from = hw.hat.Receiver, "HAT"
	default:
		name, from = "generic", "default"
	}
	r, ok := board.ReceiverByName(name)
	if !ok {
		return hw, fmt.Errorf("receiver %s: unknown receiver", name)
	}
	hw.receiver, hw.receiverFrom = r, from
	return hw, nil
}

// gpsDevice is the receiver's device: the configured one, or for `gps
// auto` the board's header UART; /dev/serial0 (the old default) where no
// board is known.
func (hw hardware) gpsDevice(cfg config.Config) string {
	if cfg.GPS.Device != config.Auto {
		return cfg.GPS.Device
	}
	if hw.board.UART != "" {
		return hw.board.UART
	}
	return "/dev/serial0"
}

// ppsPin is the GPIO line of `pps gpio`: the configured one, or for `pps
// gpio auto` the HAT's, else the board's default. ok is false when auto
// has no board to ask.
func (hw hardware) ppsPin(cfg config.Config) (pin uint32, ok bool) {
	if cfg.PPS.Pin != config.PinAuto {
		return uint32(cfg.PPS.Pin), true
	}
	return hw.board.PPSPin, hw.board.PPSPin != 0
}

// console is the status console: `console auto` is the board's console
// that does not fight the GPS ("" where the board has none, or none is
// known: no console).
func (hw hardware) console(c config.Console) config.Console {
	if c.Device == config.Auto {
		c.Device = hw.board.Console
	}
	return c
}

// summary says in one line what was detected and what was chosen, for
// the log at start: "board Raspberry Pi 5 Model B, HAT Uputronics GPS/RTC
// HAT: gps /dev/ttyAMA0, pps gpio 18 on pinctrl-rp1, receiver ublox".
func (hw hardware) summary(cfg config.Config) string {
	var b strings.Builder
	switch {
	case hw.board.Name == "" && hw.machine.Model == "":
		b.WriteString("board none (no device tree)")
	case hw.board.Name == "":
		fmt.Fprintf(&b, "board %q not recognised", hw.machine.Model)
	case hw.boardFrom == "config":
		fmt.Fprintf(&b, "board %s (configured)", hw.board.Title)
	default:
		fmt.Fprintf(&b, "board %s", hw.machine.Model)
	}
	switch {
	case hw.hat.Name != "":
		fmt.Fprintf(&b, ", HAT %s", hw.hat.Title)
	case hw.machine.HAT != nil:
		fmt.Fprintf(&b, ", HAT %s not a known GPS HAT", hw.machine.HAT)
	default:
		b.WriteString(", no HAT EEPROM")
	}
	fmt.Fprintf(&b, ": gps %s, pps ", hw.gpsDevice(cfg))
	switch cfg.PPS.Kind {
	case config.PPSGPIO:
		if pin, ok := hw.ppsPin(cfg); ok {
			fmt.Fprintf(&b, "gpio %d on %s", pin, hw.gpioChip(cfg))
		} else {
			b.WriteString("gpio auto (no board to name the pin)")
		}
	case config.PPSKernel:
		b.WriteString(cfg.PPS.Device)
	default:
		b.WriteString(string(cfg.PPS.Kind))
	}
	fmt.Fprintf(&b, ", receiver %s", hw.receiver.Name)
	if hw.receiverFrom != "config" {
		fmt.Fprintf(&b, " (%s)", hw.receiverFrom)
	}
	if c := hw.console(cfg.Console); cfg.Console.Device == config.Auto {
		if c.Device == "" {
			b.WriteString(", console none (the board has no UART to spare)")
		} else {
			fmt.Fprintf(&b, ", console %s", c.Device)
		}
	}
	return b.String()
}

// resolveConsole is c with `console auto` resolved on the machine the
// daemon runs on (the board's console, "" for none): for consoleConfig.
// Other devices are returned as they are.
func resolveConsole(cfg config.Config, c config.Console) config.Console {
	if c.Device != config.Auto {
		return c
	}
	hw, err := detectHardware(cfg, board.DeviceTreeDir)
	if err != nil {
		c.Device = ""
		return c
	}
	return hw.console(c)
}

// gpioChip is the chip of `pps gpio`: the configured label, else the
// board's ("" when neither).
func (hw hardware) gpioChip(cfg config.Config) string {
	if cfg.PPS.Chip != "" {
		return cfg.PPS.Chip
	}
	return hw.board.GPIOChip
}

// profiles resolves the board and HAT this daemon runs on and the
// receiver profile (detectHardware), and logs what it found and chose.
// The returned board carries the HAT's PPS pin.
func profiles(cfg config.Config, log *slog.Logger) (board.Board, board.Receiver, error) {
	hw, err := detectHardware(cfg, board.DeviceTreeDir)
	if err != nil {
		return hw.board, hw.receiver, err
	}
	if hw.board.Name == "" && hw.machine.Model != "" {
		log.Warn("board not recognised; no board calibration applied", "model", hw.machine.Model)
	}
	log.Info(hw.summary(cfg))
	return hw.board, hw.receiver, nil
}

func boardNames() string {
	var n []string
	for _, b := range board.Boards() {
		n = append(n, b.Name)
	}
	return strings.Join(n, ", ")
}

// ppsOpener returns how to open the configured PPS source, with the
// board's timestamp latency calibration unless `ppsoffset` overrides it.
// A device that is missing, or a chip that cannot be named, fails each
// open, and pps.Reopening retries it while NMEA time is served.
func ppsOpener(cfg config.Config, bd board.Board) (func() (pps.Source, error), error) {
	latency := bd.PPSOffsetNs
	if cfg.PPSOffset != 0 {
		latency = int64(cfg.PPSOffset)
	}
	edge := pps.Rising
	if cfg.PPS.Falling {
		edge = pps.Falling
	}
	compensated := func(s pps.Source, err error) (pps.Source, error) {
		if err != nil {
			return nil, err
		}
		return pps.Compensated(s, latency), nil
	}
	switch cfg.PPS.Kind {
	case config.PPSKernel:
		return func() (pps.Source, error) {
			return compensated(pps.OpenKernel(cfg.PPS.Device, pps.KernelConfig{CaptureClear: cfg.PPS.Falling}))
		}, nil
	case config.PPSGPIO:
		hw := hardware{board: bd}
		chip := hw.gpioChip(cfg)
		pin, ok := hw.ppsPin(cfg)
		if !ok {
			err := fmt.Errorf("pps gpio auto: no board detected to name the pin; write the pin (`pps gpio 18`, `pps gpio 4` on the Adafruit HAT) and `board NAME`")
			return func() (pps.Source, error) { return nil, err }, nil
		}
		if chip == "" {
			// Not fatal: a board that is not recognised still serves
			// NMEA time, with this as the alarm.
			err := fmt.Errorf("pps gpio %d: no board detected to name the GPIO chip; add `chip LABEL` (see gpioinfo)", pin)
			return func() (pps.Source, error) { return nil, err }, nil
		}
		return func() (pps.Source, error) {
			return compensated(pps.OpenGPIO(pps.GPIOConfig{Chip: chip, Line: pin, Edge: edge}))
		}, nil
	case config.PPSDCD:
		return func() (pps.Source, error) {
			return compensated(pps.OpenDCD(hardware{board: bd}.gpsDevice(cfg), pps.DCDConfig{Edge: edge}))
		}, nil
	}
	return nil, fmt.Errorf("pps %s: not supported by this build", cfg.PPS.Kind)
}
