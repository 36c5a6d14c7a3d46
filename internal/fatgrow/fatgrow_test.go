package fatgrow

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mtools runs an mtools command on the image file; MTOOLS_SKIP_CHECK: the
// geometry is not a floppy's.
func mtools(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// full makes a 20 MB "partition" holding a FAT16 file system of 10 MB
// filled to the last cluster, as gokrazy leaves its boot partition.
func full(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"mformat", "mcopy", "mdir"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install mtools)", tool)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "part.img")
	if err := os.WriteFile(img, make([]byte, 40000*512), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := mtools(t, "mformat", "-i", img, "-T", "20000", "-h", "4", "-s", "32", "-c", "4", "::"); err != nil {
		t.Fatalf("mformat: %v\n%s", err, out)
	}
	// Fill it, one file the size of what mdir says is free at a time.
	for i := 0; i < 5; i++ {
		out, _ := mtools(t, "mdir", "-i", img, "::")
		free := freeBytes(t, out)
		if free == 0 {
			break
		}
		big := filepath.Join(dir, "fill")
		os.WriteFile(big, make([]byte, free), 0o644)
		if out, err := mtools(t, "mcopy", "-i", img, big, "::fill"+strconv.Itoa(i)); err != nil {
			t.Fatalf("mcopy: %v\n%s", err, out)
		}
	}
	if out, _ := mtools(t, "mdir", "-i", img, "::"); !strings.Contains(out, " 0 bytes free") {
		t.Fatalf("file system not full:\n%s", out)
	}
	return img
}

// freeBytes reads "10 201 088 bytes free" from mdir's output.
func freeBytes(t *testing.T, mdir string) int {
	t.Helper()
	for _, l := range strings.Split(mdir, "\n") {
		if n, ok := strings.CutSuffix(strings.TrimSpace(l), " bytes free"); ok {
			v, err := strconv.Atoi(strings.ReplaceAll(n, " ", ""))
			if err == nil {
				return v
			}
		}
	}
	t.Fatalf("no free bytes in mdir output:\n%s", mdir)
	return 0
}

func TestGrow(t *testing.T) {
	img := full(t)
	conf := filepath.Join(t.TempDir(), "gpsntp.conf")
	os.WriteFile(conf, []byte("pps gpio 4\n"), 0o644)
	if out, err := mtools(t, "mcopy", "-i", img, conf, "::gpsntp.conf"); err == nil {
		t.Fatalf("mcopy onto a full file system succeeded:\n%s", out)
	}
	before, _ := mtools(t, "mtype", "-i", img, "::fill0")

	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	added, err := Grow(f, 0, 40000)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("grew by %d bytes", added)
	if added < 100<<10 {
		t.Errorf("grew by %d bytes, want at least 100 KiB (the FAT's slack)", added)
	}
	if out, err := mtools(t, "mcopy", "-i", img, conf, "::gpsntp.conf"); err != nil {
		t.Fatalf("mcopy after Grow: %v\n%s", err, out)
	}
	if out, _ := mtools(t, "mtype", "-i", img, "::gpsntp.conf"); out != "pps gpio 4\n" {
		t.Errorf("gpsntp.conf reads back %q", out)
	}
	if after, _ := mtools(t, "mtype", "-i", img, "::fill0"); after != before || len(after) < 10e6 {
		t.Errorf("existing file changed: %d bytes before, %d after", len(before), len(after))
	}
	// Again: nothing more to gain.
	f, _ = os.OpenFile(img, os.O_RDWR, 0)
	defer f.Close()
	if added, err := Grow(f, 0, 40000); err != nil || added != 0 {
		t.Errorf("second Grow = %d, %v; want 0, nil", added, err)
	}
}

func TestGrowRefuses(t *testing.T) {
	img := full(t)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A non-free FAT entry past the end: something we do not understand
	// is there; leave it alone.
	var bs [512]byte
	f.ReadAt(bs[:], 0)
	reserved := int64(bs[0x0E]) | int64(bs[0x0F])<<8
	fatSectors := int64(bs[0x16]) | int64(bs[0x17])<<8
	f.WriteAt([]byte{0xF7, 0xFF}, (reserved+fatSectors)*512-2)
	if _, err := Grow(f, 0, 40000); err == nil || !strings.Contains(err.Error(), "not free") {
		t.Errorf("Grow with a used entry past the end = %v, want refused", err)
	}
	// Not a FAT at all.
	f.WriteAt(make([]byte, 512), 0)
	if _, err := Grow(f, 0, 40000); err == nil || !strings.Contains(err.Error(), "not a FAT") {
		t.Errorf("Grow(zeros) = %v, want not a FAT", err)
	}
}
