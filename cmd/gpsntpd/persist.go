package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/discipline"
)

// persistence keeps what must survive a reboot on an appliance without an
// RTC: the frequency correction (driftfile, as ntpd) and the last known good
// time (timefile). Both are written at most hourly while synchronised
// (SD-card wear) and at shutdown.
type persistence struct {
	log       *slog.Logger
	drift     discipline.DriftSaver
	timePath  string
	lastTimeW int64 // served time of the last timefile write
}

// timeFileIntervalNs is how often the last known time is saved.
const timeFileIntervalNs = 3600e9

// load reads the drift file and the time file. It returns the servo
// configuration to start from and the date floor for the GPS decoder;
// missing files are normal on a first boot, corrupt ones are reported and
// survived.
func (p *persistence) load(cfg config.Config, servo discipline.ServoConfig, floor time.Time) (discipline.ServoConfig, time.Time) {
	p.drift.Path = cfg.DriftFile
	p.timePath = cfg.TimeFile
	if cfg.DriftFile != "" {
		f, err := discipline.ReadDrift(cfg.DriftFile)
		switch {
		case err == nil:
			servo.InitialFreqPPB = f
			// A drift file is worth about a ppm: temperature and ageing
			// move a crystal that much between boots.
			servo.InitialFreqSigmaPPB = 1000
			p.drift.Seed(0, f)
			p.log.Info("drift file read", "path", cfg.DriftFile, "freq_ppm", f/1e3)
		case errors.Is(err, fs.ErrNotExist):
			p.log.Info("no drift file yet; starting cold", "path", cfg.DriftFile)
		default:
			p.log.Warn("drift file unusable; starting cold", "err", err)
		}
	}
	if p.timePath != "" {
		t, err := readTimeFile(p.timePath)
		switch {
		case err == nil:
			// A day of margin: the file may have been written by a clock
			// that was about to be corrected.
			if f := t.Add(-24 * time.Hour); f.After(floor) {
				floor = f
			}
			p.log.Info("last known time read", "path", p.timePath, "time", t.Format(time.RFC3339))
		case errors.Is(err, fs.ErrNotExist):
		default:
			p.log.Warn("time file unusable; using the build date as the date floor", "err", err)
		}
	}
	return servo, floor
}

// tick saves what is due. servedNs is the served time now. It is called
// every second; each file is attempted at most once per interval, failed
// attempts included, so a full disk costs one warning an hour, not one a
// second.
func (p *persistence) tick(servedNs int64, ref *discipline.Reference) {
	// The drift saver sees every tick, unsynchronised ones included, so
	// that any break in the lock restarts its settling time.
	freq, bound, locked := driftInputs(ref)
	if wrote, err := p.drift.Maybe(servedNs, freq, bound, locked); err != nil {
		p.log.Warn("drift file not written; next attempt in an hour", "err", err)
	} else if wrote {
		p.log.Info("drift file written", "path", p.drift.Path, "freq_ppm", freq/1e3)
	}
	if ref == nil || !ref.Synchronised {
		return
	}
	if p.timePath != "" && servedNs-p.lastTimeW >= timeFileIntervalNs {
		p.lastTimeW = servedNs // a failure too waits for the next interval
		if err := writeTimeFile(p.timePath, time.Unix(0, servedNs)); err != nil {
			p.log.Warn("time file not written; next attempt in an hour", "err", err)
		}
	}
}

// driftInputs is what the drift saver needs of a reference: the frequency
// estimate, the engine's bound on its error (the rate at which the error
// bound grows without updates: 3σ of the estimate plus the assumed
// wander, ns/s = ppb) and whether the servo is locked (PPS or NMEA, not
// holdover).
func driftInputs(ref *discipline.Reference) (freqPPB, boundPPB float64, locked bool) {
	if ref == nil {
		return 0, 0, false
	}
	locked = ref.Synchronised && (ref.State == discipline.PPS || ref.State == discipline.GPS)
	return ref.FreqEstPPB, ref.DispersionRateNsPerS, locked
}

// flush saves both at shutdown, if there is anything trustworthy to save:
// the drift file only once the estimate has settled, the time file while
// synchronised.
func (p *persistence) flush(servedNs int64, ref *discipline.Reference) {
	freq, bound, locked := driftInputs(ref)
	if wrote, err := p.drift.Flush(servedNs, freq, bound, locked); errors.Is(err, discipline.ErrDriftUnsettled) {
		p.log.Info("drift file not written at shutdown", "reason", err)
	} else if err != nil {
		p.log.Warn("drift file not written at shutdown", "err", err)
	} else if wrote {
		p.log.Info("drift file written", "path", p.drift.Path, "freq_ppm", freq/1e3)
	}
	if ref == nil || !ref.Synchronised {
		return
	}
	if p.timePath != "" {
		if err := writeTimeFile(p.timePath, time.Unix(0, servedNs)); err != nil {
			p.log.Warn("time file not written at shutdown", "err", err)
		}
	}
}

// maxTimeFileBytes bounds what readTimeFile reads: the file is one short
// line ("1956528000 2032-01-01T00:00:00Z\n").
const maxTimeFileBytes = 256

// The time file holds Unix seconds and, for people, the RFC 3339 time.
func readTimeFile(path string) (time.Time, error) {
	fh, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxTimeFileBytes+1))
	if err != nil {
		return time.Time{}, fmt.Errorf("time file %s: read: %w", path, err)
	}
	if len(b) > maxTimeFileBytes {
		return time.Time{}, fmt.Errorf("time file %s: not a time file (larger than %d bytes)", path, maxTimeFileBytes)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Time{}, fmt.Errorf("time file %s: empty", path)
	}
	s, err := strconv.ParseInt(f[0], 10, 64)
	// Before 2020 or after 2200: not a time this appliance wrote.
	if err != nil || s < 1577836800 || s > 7258118400 {
		return time.Time{}, fmt.Errorf("time file %s: want Unix seconds, got %q", path, f[0])
	}
	return time.Unix(s, 0).UTC(), nil
}

// writeTimeFile replaces the time file atomically and durably (fsync of
// the file, rename, fsync of the directory), keeping its mode.
func writeTimeFile(path string, t time.Time) error {
	data := fmt.Sprintf("%d %s\n", t.Unix(), t.UTC().Format(time.RFC3339))
	if err := discipline.ReplaceFile(path, []byte(data)); err != nil {
		return fmt.Errorf("time file %s: %w", path, err)
	}
	return nil
}
