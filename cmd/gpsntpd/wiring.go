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

// accessRules turns the config's restrict and discard lines into the
// server's table (nil: no restrict lines, serve everyone, as ntpd).
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
	var table *restrict.Table
	if len(rules) > 0 {
		table = restrict.NewTable(rules)
	}
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

// profiles resolves the board (`board auto` reads /proc/device-tree/model)
// and the receiver profile (`gps … receiver NAME`, default generic).
func profiles(cfg config.Config, log *slog.Logger) (board.Board, board.Receiver, error) {
	var bd board.Board
	switch cfg.Board {
	case "auto":
		if model, err := board.ReadModel(); err == nil {
			if b, ok := board.Detect(model); ok {
				bd = b
				log.Info("board detected", "board", b.Name, "model", model)
			} else {
				log.Warn("board not recognised; no board calibration applied", "model", model)
			}
		}
	default:
		b, ok := board.ByName(cfg.Board)
		if !ok {
			return bd, board.Receiver{}, fmt.Errorf("board %s: unknown board (known: %s)", cfg.Board, boardNames())
		}
		bd = b
	}
	name := cfg.GPS.Receiver
	if name == "" {
		name = "generic"
	}
	r, ok := board.ReceiverByName(name)
	if !ok {
		return bd, r, fmt.Errorf("receiver %s: unknown receiver", name)
	}
	return bd, r, nil
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
		chip := cfg.PPS.Chip
		if chip == "" {
			chip = bd.GPIOChip
		}
		if chip == "" {
			// Not fatal: a board that is not recognised still serves
			// NMEA time, with this as the alarm.
			err := fmt.Errorf("pps gpio %d: no board detected to name the GPIO chip; add `chip LABEL` (see gpioinfo)", cfg.PPS.Pin)
			return func() (pps.Source, error) { return nil, err }, nil
		}
		return func() (pps.Source, error) {
			return compensated(pps.OpenGPIO(pps.GPIOConfig{Chip: chip, Line: uint32(cfg.PPS.Pin), Edge: edge}))
		}, nil
	case config.PPSDCD:
		return func() (pps.Source, error) {
			return compensated(pps.OpenDCD(cfg.GPS.Device, pps.DCDConfig{Edge: edge}))
		}, nil
	}
	return nil, fmt.Errorf("pps %s: not supported by this build", cfg.PPS.Kind)
}
