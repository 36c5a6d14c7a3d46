package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/discipline"
)

// tools the image build and inspection need, with the Debian package that
// has each.
var tools = map[string]string{
	"make":       "make",
	"xz":         "xz-utils",
	"mtype":      "mtools",
	"unsquashfs": "squashfs-tools",
	"mkfs.ext4":  "e2fsprogs",
	"partx":      "util-linux",
}

func needTools(t *testing.T) {
	t.Helper()
	os.Setenv("PATH", os.Getenv("PATH")+":/sbin:/usr/sbin")
	for tool, pkg := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install %s): cannot build or inspect the SD card image", tool, pkg)
		}
	}
}

// rawImage returns the path of the uncompressed Raspberry Pi image: from
// GPSNTP_IMAGE (.img or .img.xz) or built by `make image` into a temporary
// directory (about two minutes; the first build downloads kernel and
// firmware from the Go module proxy).
func rawImage(t *testing.T) string {
	t.Helper()
	needTools(t)
	tmp := t.TempDir()
	xzPath := os.Getenv("GPSNTP_IMAGE")
	switch {
	case strings.HasSuffix(xzPath, ".img"):
		return xzPath
	case xzPath == "":
		if testing.Short() {
			t.Skip("-short: not building the SD card image (set GPSNTP_IMAGE to inspect a built one)")
		}
		root, err := filepath.Abs("..")
		if err != nil {
			t.Fatal(err)
		}
		xzPath = filepath.Join(tmp, "gpsntp-rpi-arm64.img.xz")
		out, err := exec.Command("make", "--no-print-directory", "-C", root, "image", "IMAGE="+xzPath).CombinedOutput()
		if err != nil {
			t.Fatalf("make image: %v\n%s", err, out)
		}
	}
	raw := filepath.Join(tmp, "img")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("xz", "-dc", xzPath)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("xz -dc %s: %v\n%s", xzPath, err, stderr.Bytes())
	}
	f.Close()
	return raw
}

type partition struct{ start, size int64 } // bytes

func partitions(t *testing.T, img string) []partition {
	t.Helper()
	out, err := exec.Command("partx", "-g", "-b", "-o", "START,SIZE", img).Output()
	if err != nil {
		t.Fatalf("partx %s: %v", img, err)
	}
	var ps []partition
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("partx line %q: want START SIZE", line)
		}
		start, err1 := strconv.ParseInt(f[0], 10, 64)
		size, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("partx line %q: %v %v", line, err1, err2)
		}
		ps = append(ps, partition{start * 512, size})
	}
	return ps
}

func TestRaspberryPiImage(t *testing.T) {
	img := rawImage(t)
	ps := partitions(t, img)
	if len(ps) != 4 {
		t.Fatalf("image has %d partitions %v, want 4 (boot, root A, root B, perm)", len(ps), ps)
	}

	t.Run("boot", func(t *testing.T) {
		fat := img + "@@" + strconv.FormatInt(ps[0].start, 10)
		cfg := output(t, "mtype", "-i", fat, "::config.txt")
		// Last assignment wins in config.txt.
		if v := lastValue(cfg, "enable_uart"); v != "1" {
			t.Errorf("config.txt: enable_uart = %q, want 1 (the GPS UART):\n%s", v, cfg)
		}
		if !hasLine(cfg, "dtoverlay=disable-bt") {
			t.Errorf("config.txt lacks dtoverlay=disable-bt (frees the PL011 UART on GPIO14/15):\n%s", cfg)
		}
		if strings.Contains(cfg, "pps-gpio") {
			t.Errorf("config.txt loads pps-gpio, which gokrazy's kernel lacks (use the GPIO character device):\n%s", cfg)
		}
		cmdline := strings.TrimSpace(output(t, "mtype", "-i", fat, "::cmdline.txt"))
		for _, w := range strings.Fields(cmdline) {
			if strings.HasPrefix(w, "console=") && w != "console=tty1" {
				t.Errorf("cmdline.txt has %s: a serial console would fight the GPS for the UART: %q", w, cmdline)
			}
		}
		if !strings.Contains(cmdline, "console=tty1") {
			t.Errorf("cmdline.txt = %q, want console=tty1 (status on HDMI)", cmdline)
		}
		// The configuration users edit from any OS, commented; the same
		// file as the one baked into the root (one fact, one place).
		want, err := os.ReadFile(filepath.Join("gpsntp", "ntp.conf"))
		if err != nil {
			t.Fatal(err)
		}
		if got := output(t, "mtype", "-i", fat, "::gpsntp.conf"); got != string(want) {
			t.Errorf("boot partition's gpsntp.conf differs from image/gpsntp/ntp.conf:\n%s", got)
		}
		files := output(t, "mdir", "-i", fat, "-b", "::")
		for _, want := range []string{"::/vmlinuz", "::/start4.elf", "::/bcm2711-rpi-4-b.dtb", "::/bcm2712-rpi-5-b.dtb", "::/bcm2710-rpi-zero-2-w.dtb"} {
			if !hasLine(files, want) {
				t.Errorf("boot partition lacks %s", want)
			}
		}
		for _, eeprom := range []string{"::/pieeprom.upd", "::/pieeprom.sig", "::/recovery.bin"} {
			if hasLine(files, eeprom) {
				t.Errorf("boot partition has %s: first boot would rewrite a Pi 4's bootloader EEPROM", eeprom)
			}
		}
	})

	t.Run("root", func(t *testing.T) {
		sq := extract(t, img, ps[1], "root.squashfs")
		list := output(t, "unsquashfs", "-l", sq)
		for _, want := range []string{"user/gpsntpd", "user/gpsntp-boot", "etc/gpsntp/ntp.conf", "etc/gpsntp/leap-seconds.list", "gokrazy/init", "gokrazy/dhcp", "perm"} {
			if !hasLine(list, "squashfs-root/"+want) {
				t.Errorf("root file system lacks /%s", want)
			}
		}
		for _, l := range strings.Split(list, "\n") {
			// gokrazy's own ntp would fight us for the clock; heartbeat
			// phones home.
			if base := filepath.Base(l); base == "ntp" || base == "heartbeat" {
				t.Errorf("root file system has %s", strings.TrimPrefix(l, "squashfs-root"))
			}
		}

		bin := filepath.Join(t.TempDir(), "gpsntpd")
		if err := os.WriteFile(bin, []byte(output(t, "unsquashfs", "-cat", sq, "user/gpsntpd")), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("/user/gpsntpd: %v", err)
		}
		if f.Machine != elf.EM_AARCH64 {
			t.Errorf("/user/gpsntpd is for %v, want EM_AARCH64", f.Machine)
		}
		f.Close()

		conf := output(t, "unsquashfs", "-cat", sq, "etc/gpsntp/ntp.conf")
		c, err := config.Parse("/etc/gpsntp/ntp.conf", strings.NewReader(conf))
		if err != nil {
			t.Fatalf("baked config: %v", err)
		}
		if c.Clock != "system" || c.PPS.Kind != "gpio" || c.GPS.Device != "/dev/ttyAMA0" {
			t.Errorf("baked config: clock=%q pps=%+v gps=%+v, want clock system, pps gpio, gps /dev/ttyAMA0", c.Clock, c.PPS, c.GPS)
		}
		if c.LeapFile != "/etc/gpsntp/leap-seconds.list" {
			t.Errorf("baked config: leapfile %q, want /etc/gpsntp/leap-seconds.list", c.LeapFile)
		}
		leaps := output(t, "unsquashfs", "-cat", sq, "etc/gpsntp/leap-seconds.list")
		if lt, err := discipline.ParseLeapFile("/etc/gpsntp/leap-seconds.list", strings.NewReader(leaps)); err != nil {
			t.Errorf("baked leap file: %v", err)
		} else if len(lt.Events) < 27 {
			t.Errorf("baked leap file: %d leap seconds, want the 27 since 1972", len(lt.Events))
		}
	})

	t.Run("perm", func(t *testing.T) {
		// ext4 superblock at 1024, s_magic at offset 56 (0xEF53).
		f, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var magic [2]byte
		if _, err := f.ReadAt(magic[:], ps[3].start+1024+56); err != nil {
			t.Fatal(err)
		}
		if m := binary.LittleEndian.Uint16(magic[:]); m != 0xEF53 {
			t.Errorf("/perm (partition 4) superblock magic = %#x, want 0xef53 (ext4): make image must format it", m)
		}
		if ps[3].size < 100<<20 {
			t.Errorf("/perm is %d bytes, want at least 100 MiB", ps[3].size)
		}
	})
}

// TestBakedConfigs checks the configs in the instance directories parse
// (cheap; runs without the image tools).
func TestBakedConfigs(t *testing.T) {
	for _, p := range []string{"gpsntp/ntp.conf", "gpsntp-vm/ntp.conf", "gpsntp-arm64vm/ntp.conf"} {
		if _, err := config.Load(p); err != nil {
			t.Errorf("config.Load(%s): %v", p, err)
		}
	}
}

func extract(t *testing.T, img string, p partition, name string) string {
	t.Helper()
	in, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	path := filepath.Join(t.TempDir(), name)
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.NewSectionReader(in, p.start, p.size)); err != nil {
		t.Fatal(err)
	}
	return path
}

func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out)
}

func lastValue(cfg, key string) string {
	v := ""
	for _, l := range strings.Split(cfg, "\n") {
		if k, val, ok := strings.Cut(strings.TrimSpace(l), "="); ok && k == key {
			v = val
		}
	}
	return v
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
