package discipline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDriftFileRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ntp.drift")
	if _, err := ReadDrift(p); !os.IsNotExist(err) {
		t.Fatalf("ReadDrift(missing) error = %v, want not-exist", err)
	}
	if err := WriteDrift(p, -37_123.4); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "-37.123\n" {
		t.Errorf("file = %q, want %q (ppm, as ntpd writes it)", b, "-37.123\n")
	}
	got, err := ReadDrift(p)
	if err != nil || got != -37_123 {
		t.Errorf("ReadDrift = %v, %v, want -37123 ppb", got, err)
	}
	// ntpd's and chrony's files: chrony adds a second column (skew).
	os.WriteFile(p, []byte("12.345 0.011\n"), 0o644)
	if got, err := ReadDrift(p); err != nil || got != 12_345 {
		t.Errorf("ReadDrift(chrony format) = %v, %v, want 12345", got, err)
	}
}

func TestDriftFileCorrupt(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []string{"", "\n", "abc\n", "5001\n", "-6000\n", "NaN\n", "\x00\x01"} {
		p := filepath.Join(dir, "d")
		os.WriteFile(p, []byte(c), 0o644)
		if _, err := ReadDrift(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("ReadDrift(%q) error = %v, want one naming the file", c, err)
		}
	}
}

func TestDriftFileUnwritableIsSurvived(t *testing.T) {
	// Root writes anywhere, so use a directory that does not exist.
	d := DriftSaver{Path: filepath.Join(t.TempDir(), "no", "such", "dir", "drift")}
	wrote, err := d.Maybe(0, 1000, true)
	if wrote || err == nil || !strings.Contains(err.Error(), "drift file") {
		t.Errorf("Maybe on an unwritable path = %v, %v; want false and an error naming the drift file", wrote, err)
	}
	// Still reported when due again, never a panic.
	if _, err := d.Maybe(DriftMinIntervalNs+1, 1000, true); err == nil {
		t.Error("second attempt: no error")
	}
}

func TestDriftSaverPolicy(t *testing.T) {
	p := filepath.Join(t.TempDir(), "drift")
	d := DriftSaver{Path: p}
	steps := []struct {
		nowS   int64
		ppb    float64
		locked bool
		want   bool
	}{
		{0, 1000, false, false},   // not locked: nothing worth keeping
		{10, 1000, true, true},    // first locked value
		{20, 5000, true, false},   // within the hour
		{3700, 1020, true, false}, // an hour on, but moved < 50 ppb
		{3800, 5000, true, false}, // the check above restarted the hour
		{7400, 5000, true, true},  // an hour after the check, moved
	}
	for _, s := range steps {
		got, err := d.Maybe(s.nowS*1e9, s.ppb, s.locked)
		if err != nil || got != s.want {
			t.Errorf("Maybe(t=%ds, %v ppb, locked=%v) = %v, %v; want %v", s.nowS, s.ppb, s.locked, got, err, s.want)
		}
	}
	if v, _ := ReadDrift(p); v != 5000 {
		t.Errorf("file holds %v ppb, want 5000", v)
	}
}
