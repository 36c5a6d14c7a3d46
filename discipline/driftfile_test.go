//go:build linux

package discipline

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/internal/fulldir"
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
	d.Maybe(0, 1000, 80, true)
	wrote, err := d.Maybe(DriftSettleNs, 1000, 80, true)
	if wrote || err == nil || !strings.Contains(err.Error(), "drift file") {
		t.Errorf("Maybe on an unwritable path = %v, %v; want false and an error naming the drift file", wrote, err)
	}
	// Still reported when due again, never a panic.
	if _, err := d.Maybe(DriftSettleNs+DriftMinIntervalNs, 1000, 80, true); err == nil {
		t.Error("second attempt: no error")
	}
}

func TestDriftSaverPolicy(t *testing.T) {
	p := filepath.Join(t.TempDir(), "drift")
	d := DriftSaver{Path: p}
	steps := []struct {
		nowS     int64
		ppb      float64
		boundPPB float64
		locked   bool
		want     bool
	}{
		{0, 1000, 3000, false, false},  // not locked: nothing worth keeping
		{10, 1000, 3000, true, false},  // first lock: still converging
		{200, 1000, 80, true, false},   // bound fine, but locked only 190 s
		{300, 1000, 80, false, false},  // lock broken (holdover) ...
		{301, 1000, 80, true, false},   // ... so the 300 s start again
		{600, 1000, 2000, true, false}, // locked 299 s
		{601, 1000, 2000, true, false}, // locked 300 s, bound 2 ppm: not yet
		{602, 1000, 1000, true, true},  // settled
		{620, 5000, 80, true, false},   // within the hour
		{4202, 1020, 80, true, false},  // an hour on, but moved < 50 ppb
		{4300, 5000, 80, true, false},  // the check above restarted the hour
		{7802, 5000, 80, true, true},   // an hour after the check, moved
		{7803, 9000, 80, false, false}, // holdover
		{11500, 9000, 80, true, false}, // relocked: settling again
		{11800, 9000, 80, true, true},  // settled again, an hour since the last write
	}
	for _, s := range steps {
		got, err := d.Maybe(s.nowS*1e9, s.ppb, s.boundPPB, s.locked)
		if err != nil || got != s.want {
			t.Errorf("Maybe(t=%ds, %v ppb, bound %v ppb, locked=%v) = %v, %v; want %v", s.nowS, s.ppb, s.boundPPB, s.locked, got, err, s.want)
		}
	}
	if v, _ := ReadDrift(p); v != 9000 {
		t.Errorf("file holds %v ppb, want 9000", v)
	}
}

// At shutdown the estimate is saved only if it has settled; the error says
// how far it got, and is recognisable as information, not a failure.
func TestDriftSaverFlush(t *testing.T) {
	p := filepath.Join(t.TempDir(), "drift")
	d := DriftSaver{Path: p}
	d.Maybe(0, 1000, 3000, true)
	wrote, err := d.Flush(10e9, 1000, 3000, true)
	if wrote || !errors.Is(err, ErrDriftUnsettled) || !strings.Contains(err.Error(), "locked for 10 s") {
		t.Errorf("Flush 10 s after lock = %v, %v; want false and ErrDriftUnsettled saying 10 s", wrote, err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("drift file written before the estimate settled (stat: %v)", err)
	}
	for s := int64(1); s <= 300; s++ {
		d.Maybe(s*1e9, 1234, 80, true) // writes at 300 s
	}
	if wrote, err := d.Flush(301e9, 1240, 80, true); !wrote || err != nil {
		t.Errorf("Flush once settled = %v, %v; want a write", wrote, err)
	}
	if v, _ := ReadDrift(p); v != 1240 {
		t.Errorf("file holds %v ppb after Flush, want 1240", v)
	}
}

// A value ReadDrift would refuse is not written.
func TestWriteDriftOutOfRange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "drift")
	for _, ppb := range []float64{600e3, -500.001e3, math.NaN(), math.Inf(1)} {
		if err := WriteDrift(p, ppb); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("WriteDrift(%v ppb) error = %v, want one naming the file", ppb, err)
		}
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("out-of-range values created the file (stat: %v)", err)
	}
}

// The rename is made durable: the directory is fsynced after it, when the
// new content is in place.
func TestReplaceFileSyncsDirectoryAfterRename(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	var synced []string
	old := fsyncDir
	t.Cleanup(func() { fsyncDir = old })
	fsyncDir = func(d string) error {
		b, _ := os.ReadFile(p)
		synced = append(synced, d+" holding "+string(b))
		return old(d)
	}
	if err := ReplaceFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceFile(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	want := []string{dir + " holding one", dir + " holding two"}
	if strings.Join(synced, ",") != strings.Join(want, ",") {
		t.Errorf("directory fsyncs = %q, want %q", synced, want)
	}
}

// A full disk: the write fails at every attempt, but an attempt (a temp
// file created and deleted, an error for the log) happens at most once per
// DriftMinIntervalNs, not once a second.
func TestDriftSaverFullDiskRetriesHourly(t *testing.T) {
	dir := fulldir.New(t)
	path := filepath.Join(dir, "drift")
	if err := WriteDrift(path, 1000); err == nil {
		t.Fatal("WriteDrift on a full tmpfs succeeded; the test's disk is not full")
	}
	d := DriftSaver{Path: path}
	const start = int64(1_800_000_000e9)
	var failures []int64 // seconds since start
	for s := int64(0); s < 3*3600; s++ {
		wrote, err := d.Maybe(start+s*1e9, 1000, 80, true)
		if wrote {
			t.Fatalf("Maybe at +%ds wrote to a full disk", s)
		}
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			failures = append(failures, s)
		}
	}
	// Three hours: an attempt at the start and one per hour after it.
	if len(failures) < 1 || len(failures) > 3 {
		t.Fatalf("failed attempts over 3 h = %d at %v s, want at most one per hour", len(failures), failures[:min(len(failures), 10)])
	}
	for i := 1; i < len(failures); i++ {
		if gap := failures[i] - failures[i-1]; gap*1e9 < DriftMinIntervalNs {
			t.Errorf("attempts %d s apart (at %v s), want ≥ %g s", gap, failures, DriftMinIntervalNs/1e9)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after failed writes, want only the filler (temp files removed)", len(entries))
	}
}

// A drift file is a line of a few bytes: anything big is not one, and is
// not read whole.
func TestDriftFileTooLarge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "drift")
	big := strings.Repeat(" ", 1<<20) // a valid number after a megabyte of blanks
	if err := os.WriteFile(p, []byte("12.5"+big+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadDrift(p)
	if err == nil || !strings.Contains(err.Error(), "not a drift file") || !strings.Contains(err.Error(), p) {
		t.Errorf("ReadDrift(1 MiB file) error = %v, want \"not a drift file\" naming the file", err)
	}
}

// Values beyond ntpd's ±500 ppm tolerance, and NaN or infinities, are not
// frequencies a crystal has: a start from them locks slowly or never.
func TestDriftFileOutOfRange(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		content string
		ok      bool
	}{
		{"500\n", true},
		{"-500.000\n", true},
		{"-499.999 0.02\n", true},
		{"500.001\n", false},
		{"600\n", false},
		{"-600\n", false},
		{"NaN\n", false},
		{"nan\n", false},
		{"Inf\n", false},
		{"-Infinity\n", false},
		{"+inf\n", false},
		{"1e309\n", false},
		{"0x1p3\n", false}, // hex floats: not what ntpd or chrony write
	} {
		p := filepath.Join(dir, "d")
		os.WriteFile(p, []byte(c.content), 0o644)
		_, err := ReadDrift(p)
		if c.ok != (err == nil) {
			t.Errorf("ReadDrift(%q) error = %v, want ok=%v", c.content, err, c.ok)
		}
		if err != nil && c.content == "600\n" && !strings.Contains(err.Error(), "±500 ppm") {
			t.Errorf("ReadDrift(600 ppm) error = %q, want it to state the ±500 ppm bound", err)
		}
	}
}

// A rewrite keeps the permissions the operator gave the file; a new file
// is world-readable like ntpd's.
func TestDriftFileMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "drift")
	if err := WriteDrift(p, 1000); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("new drift file mode = %v, want 0644", fi.Mode().Perm())
	}
	for _, mode := range []os.FileMode{0o640, 0o644, 0o600, 0o664} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := WriteDrift(p, 2000); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != mode {
			t.Errorf("drift file mode after a rewrite = %v, want %v kept", fi.Mode().Perm(), mode)
		}
	}
}

// ReadDrift on arbitrary bytes: never a panic, and whatever it accepts is a
// finite frequency within ±DriftMaxPPB that WriteDrift stores and ReadDrift
// reads back to the file's 1 ppb resolution.
func FuzzReadDrift(f *testing.F) {
	for _, s := range []string{"-37.123\n", "12.345 0.011\n", "  -12.345678  0.012345\n", "0\n", "500\n", "600\n", "NaN\n", "-Inf\n", "0x1p3\n", "1e2\n", "", "\x00"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "in")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		v, err := ReadDrift(p)
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("ReadDrift(%q) error %q does not name the file", b, err)
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > DriftMaxPPB {
			t.Fatalf("ReadDrift(%q) = %v ppb, outside ±%g", b, v, DriftMaxPPB)
		}
		out := filepath.Join(dir, "out")
		if err := WriteDrift(out, v); err != nil {
			t.Fatalf("WriteDrift(%v) after ReadDrift(%q): %v", v, b, err)
		}
		if w, err := ReadDrift(out); err != nil || math.Abs(w-v) > 0.5 {
			t.Fatalf("round trip of %v ppb (from %q) = %v, %v", v, b, w, err)
		}
	})
}
