package discipline

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Drift file: the frequency correction in ppm, one number on one line, as
// ntpd's and chrony's drift files hold it (ntpd: "driftfile" in
// ntp.conf(5); chrony stores ppm too). Read at start so the servo begins
// near the right frequency (locking in seconds instead of minutes), and
// written back atomically (temporary file, fsync, rename, fsync of the
// directory) at most hourly and only when the value moved meaningfully,
// because an SD card wears out.

// DriftMinIntervalNs is the shortest time between two drift file writes.
const DriftMinIntervalNs = 3600e9

// DriftMinChangePPB is the smallest change worth a write.
const DriftMinChangePPB = 50

// ReadDrift returns the frequency correction stored at path, in ppb. A
// missing file is reported with an error satisfying os.IsNotExist; a
// corrupt one (not a number, out of ±MaxClockFreqPPB) with an error naming it.
func ReadDrift(path string) (freqPPB float64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, fmt.Errorf("drift file %s: empty", path)
	}
	ppm, err := strconv.ParseFloat(string(f[0]), 64)
	if err != nil || math.IsNaN(ppm) || math.Abs(ppm) > MaxClockFreqPPB/1e3 {
		return 0, fmt.Errorf("drift file %s: want a frequency in ppm within ±%g, got %q", path, MaxClockFreqPPB/1e3, f[0])
	}
	return ppm * 1e3, nil
}

// WriteDrift stores freqPPB at path atomically: readers see the old file or
// the new one, never a torn write, even across a power cut.
func WriteDrift(path string, freqPPB float64) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".drift-*")
	if err != nil {
		return fmt.Errorf("drift file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := fmt.Fprintf(tmp, "%.3f\n", freqPPB/1e3); err != nil {
		tmp.Close()
		return fmt.Errorf("drift file %s: write: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("drift file %s: fsync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("drift file %s: close: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("drift file %s: rename: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename itself durable
		d.Close()
	}
	return nil
}

// DriftSaver decides when to write the drift file. It is pure apart from
// the write it calls: time is an argument.
type DriftSaver struct {
	Path      string
	lastNs    int64
	lastPPB   float64
	written   bool
	lastError error
}

// Maybe writes freqPPB if the servo is locked, the last write is at least
// DriftMinIntervalNs old (or there was none) and the value moved by at
// least DriftMinChangePPB. It returns whether it wrote and any error; an
// unwritable file is reported each time the write is due, and survived.
func (d *DriftSaver) Maybe(nowNs int64, freqPPB float64, locked bool) (bool, error) {
	if d.Path == "" || !locked {
		return false, nil
	}
	if d.written && nowNs-d.lastNs < DriftMinIntervalNs {
		return false, nil
	}
	if d.written && math.Abs(freqPPB-d.lastPPB) < DriftMinChangePPB {
		d.lastNs = nowNs // checked: nothing worth writing for another hour
		return false, nil
	}
	return d.Flush(nowNs, freqPPB)
}

// Flush writes now (at shutdown), whatever the interval.
func (d *DriftSaver) Flush(nowNs int64, freqPPB float64) (bool, error) {
	if d.Path == "" {
		return false, nil
	}
	d.lastNs = nowNs
	if err := WriteDrift(d.Path, freqPPB); err != nil {
		d.lastError = err
		return false, err
	}
	d.written, d.lastPPB, d.lastError = true, freqPPB, nil
	return true, nil
}

// Seed records the value read at start, so an unchanged frequency is not
// rewritten an hour later.
func (d *DriftSaver) Seed(nowNs int64, freqPPB float64) {
	d.written, d.lastNs, d.lastPPB = true, nowNs, freqPPB
}
