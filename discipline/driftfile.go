package discipline

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Drift file: the frequency correction in ppm, one number on one line, as
// ntpd's and chrony's drift files hold it (ntpd: "driftfile" in
// ntp.conf(5); chrony stores ppm too, then the skew). Read at start so the
// servo begins near the right frequency (locking in seconds instead of
// minutes), and written back atomically (ReplaceFile) once the estimate
// has settled, then at most hourly and only when the value moved
// meaningfully, because an SD card wears out.

// DriftMinIntervalNs is the shortest time between two attempts to write
// the drift file, failed ones included: a full disk is retried, and
// reported, hourly rather than every second.
const DriftMinIntervalNs = 3600e9

// DriftMinChangePPB is the smallest change worth a write.
const DriftMinChangePPB = 50

// DriftMaxPPB bounds a drift file's value: ntpd's tolerance of ±500 ppm
// (ntpd(8), "the maximum frequency tolerance"; ADJ_FREQUENCY's range in
// adjtimex(2)). A crystal beyond it is broken or the file is not a drift
// file; starting from it makes the servo unlearn it first (a 600 ppm file
// delayed PPS lock from 8 s to 122 s).
const DriftMaxPPB = 500e3

// DriftSettleNs is how long the servo must have been locked without a
// break before its frequency estimate is worth saving: the estimate at
// first lock is still converging.
const DriftSettleNs = 300e9

// DriftSettledBoundPPB is the largest frequency error bound (the engine's
// Reference.DispersionRateNsPerS: 3σ of the estimate plus the assumed
// wander) at which the estimate is saved: the 1 ppm a start from a drift
// file assumes (cmd/gpsntpd sets InitialFreqSigmaPPB to it). An NMEA-only
// servo gets there much later than a PPS one, or not at all.
const DriftSettledBoundPPB = 1000

// maxDriftFileBytes bounds what ReadDrift reads: a drift file is one line
// of a few dozen bytes ("-12.345678 0.012345\n" from chrony).
const maxDriftFileBytes = 256

// ErrDriftUnsettled is returned by DriftSaver.Flush when the frequency
// estimate is not yet worth saving; the caller reports it as information,
// not as a failure.
var ErrDriftUnsettled = errors.New("frequency estimate not settled")

// ReadDrift returns the frequency correction stored at path, in ppb. A
// missing file is reported with an error satisfying os.IsNotExist; a
// corrupt one (larger than a drift file, not a decimal number, beyond
// ±DriftMaxPPB) with an error naming it. At most a few hundred bytes are
// read, whatever sits at path.
func ReadDrift(path string) (freqPPB float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDriftFileBytes+1))
	if err != nil {
		return 0, fmt.Errorf("drift file %s: read: %w", path, err)
	}
	if len(b) > maxDriftFileBytes {
		return 0, fmt.Errorf("drift file %s: not a drift file (larger than %d bytes)", path, maxDriftFileBytes)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, fmt.Errorf("drift file %s: empty", path)
	}
	s := fields[0]
	// Decimal only: ParseFloat also takes NaN, Inf and hex floats, which
	// neither ntpd nor chrony writes.
	if strings.Trim(s, "0123456789+-.eE") != "" {
		return 0, fmt.Errorf("drift file %s: want a frequency in ppm, got %q", path, s)
	}
	ppm, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(ppm) || math.IsInf(ppm, 0) {
		return 0, fmt.Errorf("drift file %s: want a frequency in ppm, got %q", path, s)
	}
	if math.Abs(ppm) > DriftMaxPPB/1e3 {
		return 0, fmt.Errorf("drift file %s: %g ppm is beyond ±%g ppm, ntpd's frequency tolerance", path, ppm, DriftMaxPPB/1e3)
	}
	return ppm * 1e3, nil
}

// WriteDrift stores freqPPB at path atomically (ReplaceFile). A value
// beyond ±DriftMaxPPB is refused: ReadDrift would reject it.
func WriteDrift(path string, freqPPB float64) error {
	if math.IsNaN(freqPPB) || math.Abs(freqPPB) > DriftMaxPPB {
		return fmt.Errorf("drift file %s: %.3f ppm is beyond ±%g ppm, ntpd's frequency tolerance: not saved", path, freqPPB/1e3, DriftMaxPPB/1e3)
	}
	if err := ReplaceFile(path, []byte(fmt.Sprintf("%.3f\n", freqPPB/1e3))); err != nil {
		return fmt.Errorf("drift file %s: %w", path, err)
	}
	return nil
}

// fsyncDir makes a rename in dir durable. A variable so that a test can
// see it called after the rename.
var fsyncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReplaceFile replaces the file at path with data so that readers see the
// old file or the new one, never a torn write, even across a power cut: a
// temporary file in the same directory, fsync, rename, fsync of the
// directory (rename(2) is atomic but only the directory's fsync makes it
// durable). The file keeps the permission bits of the one it replaces;
// a new file gets 0644, as ntpd's drift file. Errors name the step. gpsntpd
// also writes its time file with it.
func ReplaceFile(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	// CreateTemp makes 0600; fchmod is not subject to the umask.
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if err := fsyncDir(dir); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// DriftSaver decides when to write the drift file. It is pure apart from
// the write it calls: time is an argument.
type DriftSaver struct {
	Path string

	tried     bool  // an attempt (or a check that found nothing to write) was made
	lastTryNs int64 // ... at this time
	written   bool  // the file holds lastPPB
	lastPPB   float64

	locked        bool  // locked at the last observation
	lockedSinceNs int64 // start of the current unbroken lock
	boundPPB      float64
	nowNs         int64
}

// observe records the servo's state at nowNs: whether it is locked (PPS or
// NMEA, not holdover) and its frequency error bound.
func (d *DriftSaver) observe(nowNs int64, boundPPB float64, locked bool) {
	if locked && !d.locked {
		d.lockedSinceNs = nowNs
	}
	d.locked, d.boundPPB, d.nowNs = locked, boundPPB, nowNs
}

// Settled reports whether, at the last observation, the estimate was worth
// saving: locked for DriftSettleNs without a break and a frequency error
// bound within DriftSettledBoundPPB.
func (d *DriftSaver) Settled() bool {
	return d.locked && d.nowNs-d.lockedSinceNs >= DriftSettleNs && d.boundPPB <= DriftSettledBoundPPB
}

// Maybe is called periodically (every second) with the served time, the
// servo's frequency estimate freqPPB, its error bound boundPPB and whether
// it is locked. It writes freqPPB once the estimate has settled (Settled)
// and the last attempt is at least DriftMinIntervalNs old (or there was
// none), if the value moved by at least DriftMinChangePPB. It returns
// whether it wrote and any error. A failed write counts as an attempt: it
// is retried, and its error returned, once per interval.
func (d *DriftSaver) Maybe(nowNs int64, freqPPB, boundPPB float64, locked bool) (bool, error) {
	d.observe(nowNs, boundPPB, locked)
	if d.Path == "" || !d.Settled() {
		return false, nil
	}
	if d.tried && nowNs-d.lastTryNs < DriftMinIntervalNs {
		return false, nil
	}
	d.tried, d.lastTryNs = true, nowNs
	if d.written && math.Abs(freqPPB-d.lastPPB) < DriftMinChangePPB {
		return false, nil // checked: nothing worth writing for another interval
	}
	return d.write(freqPPB)
}

// Flush writes now (at shutdown), whatever the interval, if the estimate
// has settled; otherwise it returns an error wrapping ErrDriftUnsettled
// that says how far it got.
func (d *DriftSaver) Flush(nowNs int64, freqPPB, boundPPB float64, locked bool) (bool, error) {
	d.observe(nowNs, boundPPB, locked)
	if d.Path == "" {
		return false, nil
	}
	if !d.Settled() {
		lockedS := 0.0
		if locked {
			lockedS = float64(nowNs-d.lockedSinceNs) / 1e9
		}
		return false, fmt.Errorf("drift file %s: %w (locked for %.0f s of %.0f, frequency bound %.3f ppm, want ≤ %g): not saved",
			d.Path, ErrDriftUnsettled, lockedS, DriftSettleNs/1e9, boundPPB/1e3, DriftSettledBoundPPB/1e3)
	}
	d.tried, d.lastTryNs = true, nowNs
	return d.write(freqPPB)
}

func (d *DriftSaver) write(freqPPB float64) (bool, error) {
	if err := WriteDrift(d.Path, freqPPB); err != nil {
		return false, err
	}
	d.written, d.lastPPB = true, freqPPB
	return true, nil
}

// Seed records the value read at start, so an unchanged frequency is not
// rewritten.
func (d *DriftSaver) Seed(nowNs int64, freqPPB float64) {
	d.written, d.lastPPB = true, freqPPB
	d.tried, d.lastTryNs = true, nowNs
}
