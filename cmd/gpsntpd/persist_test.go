//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/fulldir"
)

func TestTimeFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lasttime")
	want := time.Date(2026, 11, 26, 3, 4, 5, 0, time.UTC)
	if err := writeTimeFile(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := readTimeFile(p)
	if err != nil || !got.Equal(want) {
		t.Errorf("readTimeFile = %v, %v, want %v", got, err, want)
	}
	for _, bad := range []string{"", "soon\n", "0\n", "99999999999\n"} {
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := readTimeFile(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("readTimeFile(%q) error = %v, want one naming the file", bad, err)
		}
	}
}

func TestPersistenceLoad(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Defaults()
	cfg.DriftFile = filepath.Join(dir, "drift")
	cfg.TimeFile = filepath.Join(dir, "lasttime")
	build := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

	// First boot: nothing there, cold start, build date floor.
	p := &persistence{log: log}
	sc, floor := p.load(cfg, discipline.ServoConfig{}, build)
	if sc.InitialFreqPPB != 0 || !floor.Equal(build) {
		t.Errorf("first boot: freq %v floor %v, want 0 and the build date", sc.InitialFreqPPB, floor)
	}
	// Later boots start from what was saved.
	discipline.WriteDrift(cfg.DriftFile, 37_000)
	last := time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC)
	writeTimeFile(cfg.TimeFile, last)
	sc, floor = (&persistence{log: log}).load(cfg, discipline.ServoConfig{}, build)
	if sc.InitialFreqPPB != 37_000 || sc.InitialFreqSigmaPPB != 1000 {
		t.Errorf("with a drift file: servo %+v, want 37000 ppb ± 1000", sc)
	}
	if !floor.Equal(last.Add(-24 * time.Hour)) {
		t.Errorf("floor = %v, want the last known time minus a day", floor)
	}
	// A corrupt drift file is survived: cold start.
	os.WriteFile(cfg.DriftFile, []byte("garbage"), 0o644)
	if sc, _ := (&persistence{log: log}).load(cfg, discipline.ServoConfig{}, build); sc.InitialFreqPPB != 0 {
		t.Errorf("corrupt drift file: freq %v, want a cold start", sc.InitialFreqPPB)
	}
}

// The real daemon saves the last known time when it is stopped, but not a
// frequency it has not yet settled on.
func TestEndToEndTimeFileSavedAtShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "gpsntp.conf")
	drift, lasttime := filepath.Join(dir, "drift"), filepath.Join(dir, "lasttime")
	os.WriteFile(conf, []byte("driftfile "+drift+"\ntimefile "+lasttime+"\ncontrol none\n"), 0o644)
	d := startDaemon(t, "-config", conf, "-sim-freq-ppm", "-12.5")
	waitSynced(t, d, "PPS", 60*time.Second)
	time.Sleep(10 * time.Second)
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Ten seconds of lock is not a settled frequency estimate
	// (discipline.DriftSettleNs): no drift file, and the log says why.
	// persistence's unit tests cover the settled write.
	if _, err := os.Stat(drift); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("drift file after 10 s of lock: stat = %v, want none (not settled)", err)
	}
	if !strings.Contains(d.log.String(), "not settled") {
		t.Errorf("daemon log does not say why the drift file was not written:\n%s", tail(d.log.String(), 20))
	}
	lt, err := readTimeFile(lasttime)
	if err != nil || time.Since(lt) > time.Minute || time.Since(lt) < -time.Minute {
		t.Errorf("time file = %v, %v; want about now", lt, err)
	}
}

// recorder is a slog handler that keeps every record.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

// count returns how many records at level have a message starting with prefix.
func (r *recorder) count(level slog.Level, prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Level == level && strings.HasPrefix(rec.Message, prefix) {
			n++
		}
	}
	return n
}

// settledPPS is a reference from a servo locked to PPS whose frequency
// estimate is good to well under a ppm.
func settledPPS(freqPPB float64) *discipline.Reference {
	return &discipline.Reference{State: discipline.PPS, Synchronised: true, FreqEstPPB: freqPPB, DispersionRateNsPerS: 80}
}

// persistIn is persistence with its drift and time files in dir, its log
// recorded, loaded (nothing there yet); start is a served time to tick
// from.
func persistIn(dir string) (p *persistence, rec *recorder, start int64) {
	rec = &recorder{}
	cfg := config.Defaults()
	cfg.DriftFile = filepath.Join(dir, "drift")
	cfg.TimeFile = filepath.Join(dir, "lasttime")
	p = &persistence{log: slog.New(rec)}
	p.load(cfg, discipline.ServoConfig{}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return p, rec, time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC).UnixNano()
}

// A full disk: both files are attempted, and their failure logged, once an
// hour, not every second (it was 12 warnings in 20 s, pushing everything
// else out of the event log).
func TestPersistFullDiskWarnsHourly(t *testing.T) {
	dir := fulldir.New(t)
	p, rec, start := persistIn(dir)
	const hours = 3
	for s := int64(0); s < hours*3600; s++ {
		p.tick(start+s*1e9, settledPPS(-12_345))
	}
	drift, timef := rec.count(slog.LevelWarn, "drift file not written"), rec.count(slog.LevelWarn, "time file not written")
	if drift < 1 || drift > hours || timef < 1 || timef > hours {
		t.Errorf("warnings over %d h of a full disk: drift file %d, time file %d; want 1 to %d each (one an hour)", hours, drift, timef, hours)
	}
	if n := len(rec.recs); n > 2*hours+2 {
		t.Errorf("%d log records over %d h of a full disk, want at most %d", n, hours, 2*hours+2)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("full directory holds %d entries, want only the filler (temp files removed)", len(entries))
	}
}

// The drift file is not written at first lock, when the estimate is still
// converging, nor at a shutdown soon after; it is once the servo has been
// locked for DriftSettleNs with a tight frequency bound.
func TestPersistDriftWaitsForSettledEstimate(t *testing.T) {
	dir := t.TempDir()
	p, rec, start := persistIn(dir)
	at := func(s int64) int64 { return start + s*1e9 }

	p.tick(at(0), &discipline.Reference{State: discipline.Unsynchronised})
	// First PPS lock: the estimate is 3 ppm off and the engine knows it.
	for s := int64(1); s <= 10; s++ {
		p.tick(at(s), &discipline.Reference{State: discipline.PPS, Synchronised: true, FreqEstPPB: -9_000, DispersionRateNsPerS: 3_000})
	}
	if _, err := os.Stat(p.drift.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("drift file written 10 s after first lock (stat: %v), want none", err)
	}
	p.flush(at(11), &discipline.Reference{State: discipline.PPS, Synchronised: true, FreqEstPPB: -11_000, DispersionRateNsPerS: 1_500})
	if _, err := os.Stat(p.drift.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("drift file written at a shutdown 11 s after first lock (stat: %v), want none", err)
	}
	if rec.count(slog.LevelInfo, "drift file not written at shutdown") != 1 || rec.count(slog.LevelWarn, "") != 0 {
		t.Errorf("an unsettled estimate at shutdown should be one Info record, no warning; got %d records", len(rec.recs))
	}
	if _, err := readTimeFile(p.timePath); err != nil {
		t.Errorf("time file at shutdown: %v", err)
	}
	// Settled: locked without a break for 300 s since 1 s, and now a
	// bound well under a ppm.
	var wroteAt int64 = -1
	for s := int64(12); s <= 400 && wroteAt < 0; s++ {
		p.tick(at(s), settledPPS(-12_345))
		if _, err := os.Stat(p.drift.Path); err == nil {
			wroteAt = s
		}
	}
	if wroteAt != 301 {
		t.Errorf("drift file written at %d s, want 301 (locked since 1 s, settled after 300 s)", wroteAt)
	}
	if f, err := discipline.ReadDrift(p.drift.Path); err != nil || f != -12_345 {
		t.Errorf("drift file = %v, %v; want -12345 ppb", f, err)
	}
}

// Hostile or damaged drift files start the servo cold, with a warning that
// says why.
func TestPersistLoadRejectsBadDriftFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.DriftFile = filepath.Join(dir, "drift")
	for _, c := range []struct {
		name, content, want string
	}{
		{"600 ppm", "600.000\n", "±500 ppm"},
		{"NaN", "NaN\n", "want a frequency"},
		{"Inf", "-Inf\n", "want a frequency"},
		{"large", "1.0" + strings.Repeat(" ", 4096) + "\n", "not a drift file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.WriteFile(cfg.DriftFile, []byte(c.content), 0o644)
			rec := &recorder{}
			sc, _ := (&persistence{log: slog.New(rec)}).load(cfg, discipline.ServoConfig{}, time.Time{})
			if sc.InitialFreqPPB != 0 || sc.InitialFreqSigmaPPB != 0 {
				t.Errorf("servo %+v, want a cold start", sc)
			}
			if rec.count(slog.LevelWarn, "drift file unusable") != 1 {
				t.Fatalf("no warning")
			}
			var msg string
			rec.recs[0].Attrs(func(a slog.Attr) bool { msg += a.Value.String(); return true })
			if !strings.Contains(msg, c.want) {
				t.Errorf("warning %q does not say %q", msg, c.want)
			}
		})
	}
}

// The time file keeps its mode across rewrites (a new one is 0644), and a
// large file is not read whole.
func TestTimeFileModeAndSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lasttime")
	now := time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC)
	if err := writeTimeFile(p, now); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("new time file mode = %v, want 0644", fi.Mode().Perm())
	}
	os.Chmod(p, 0o640)
	if err := writeTimeFile(p, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("time file mode after a rewrite = %v, want 0640 kept", fi.Mode().Perm())
	}
	os.WriteFile(p, []byte("1956528000"+strings.Repeat(" ", 1<<20)+"\n"), 0o644)
	if _, err := readTimeFile(p); err == nil || !strings.Contains(err.Error(), "not a time file") {
		t.Errorf("readTimeFile(1 MiB) error = %v, want \"not a time file\"", err)
	}
}

// readTimeFile on arbitrary bytes: never a panic, and whatever it accepts
// is a time between 2020 and 2200 that writeTimeFile stores and
// readTimeFile reads back unchanged.
func FuzzReadTimeFile(f *testing.F) {
	for _, s := range []string{"1956528000 2032-01-01T00:00:00Z\n", "1577836800\n", "0\n", "99999999999\n", "soon\n", "", "1956528000" + strings.Repeat(" ", 300)} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	lo, hi := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		tm, err := readTimeFile(p)
		if err != nil {
			return
		}
		if tm.Before(lo) || tm.After(hi) {
			t.Fatalf("readTimeFile(%q) = %v, outside 2020–2200", b, tm)
		}
		out := filepath.Join(dir, "out")
		if err := writeTimeFile(out, tm); err != nil {
			t.Fatal(err)
		}
		if got, err := readTimeFile(out); err != nil || !got.Equal(tm) {
			t.Fatalf("round trip of %v = %v, %v", tm, got, err)
		}
	})
}
