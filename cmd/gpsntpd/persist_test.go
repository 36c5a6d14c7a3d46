package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/discipline"
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

// The real daemon saves the frequency it learned and the last known time
// when it is stopped, and a restart starts from them.
func TestEndToEndDriftAndTimeFileSavedAtShutdown(t *testing.T) {
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
	f, err := discipline.ReadDrift(drift)
	if err != nil {
		t.Fatalf("drift file after SIGTERM: %v", err)
	}
	// The simulated GPS runs 12.5 ppm slow against the host: the soft
	// clock's correction must have learned −12.5 ppm (to the 1 ppm a
	// drift file is trusted to).
	if f < -13_500 || f > -11_500 {
		t.Errorf("saved frequency = %.0f ppb, want -12500 ± 1000", f)
	}
	lt, err := readTimeFile(lasttime)
	if err != nil || time.Since(lt) > time.Minute || time.Since(lt) < -time.Minute {
		t.Errorf("time file = %v, %v; want about now", lt, err)
	}
}
