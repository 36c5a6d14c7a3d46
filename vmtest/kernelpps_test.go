package vmtest

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/pps"
	"github.com/gpsntp/gpsntp/vmtest/agentwire"
)

// The kernel PPS path (/dev/ppsN through pps.OpenKernel) on a real kernel:
// the image's Pi kernel has pps_core but no pps-gpio, so this test boots
// Debian's arm64 kernel instead (trixie's linux-image-arm64, 6.12, where
// pps-gpio is a module; bookworm's 6.1 lacks it), with QEMU's own virt
// device tree plus a pps-gpio node on the PL061 line QMP pulses.

const (
	// debianKernelSuite is the Debian release whose arm64 kernel has
	// CONFIG_PPS_CLIENT_GPIO=m (and CONFIG_GPIO_PL061=y,
	// CONFIG_MODULE_DECOMPRESS=y).
	debianKernelSuite = "trixie"
	// debianKernelEnv names a linux-image-…-arm64 .deb, or a directory
	// laid out as debianKernel caches it, to use instead of fetching.
	debianKernelEnv = "GPSNTP_VMTEST_DEBIAN_KERNEL"
	// ppsDev is the device pps-gpio registers: the guest has no other PPS
	// client.
	ppsDev = "/dev/pps0"
)

// kernelConf is gpsntpd's configuration in the guest: guestConf's, with
// PPS from pps-gpio's device.
const kernelConf = `gps /dev/ttyUSB0 baud 9600
pps ` + ppsDev + `
clock soft
listen 0.0.0.0:123
control /run/gpsntp.sock
nmeadelay 120ms
`

// ppsPlatformDev is the platform device of the device tree's pps node,
// which pps-gpio binds.
const ppsPlatformDev = "pps"

// kernelTree is an unpacked Debian kernel: the Image QEMU boots and the
// module tree (lib/modules/RELEASE/kernel).
type kernelTree struct {
	release string
	image   string
	modules string
}

// TestVMKernelPPS boots Debian's arm64 kernel on QEMU's virt board with a
// device tree that binds pps-gpio to PL061 line 3, loads pps-gpio in the
// guest and pulses the line from the host through QMP: pps.OpenKernel
// gets the capabilities and mode it asks for, edges arrive with the
// kernel's CLOCK_REALTIME stamps and assert sequence 1, 2, …, and a
// skipped pulse is classed missing. The clear edge, which pps-gpio cannot
// capture here, is refused at open, and so is a GPIO line request on the
// line pps-gpio holds (busy, naming its consumer).
func TestVMKernelPPS(t *testing.T) {
	if os.Getenv("GPSNTP_VMTEST") != "1" {
		t.Skip("the arm64 VM tests run with `make test-vm` (GPSNTP_VMTEST=1)")
	}
	for _, tool := range []struct{ bin, pkg string }{{"qemu-system-aarch64", "qemu-system-arm"}, {"dtc", "device-tree-compiler"}} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			t.Skipf("%s not installed (apt-get install %s): cannot boot the arm64 guest with a pps-gpio node", tool.bin, tool.pkg)
		}
	}
	testStart := time.Now()
	kt := debianKernel(t)
	dtb := ppsGPIODTB(t, t.TempDir())
	// pps-gpio, and for the daemon's GPS QEMU's xHCI and FTDI serial port
	// (the Pi kernel has them built in, Debian's as modules).
	mods, order := moduleFiles(t, kt, "pps_gpio", "xhci_pci", "ftdi_sio")
	mods = append(mods, cpioEntry{name: "etc/kernel.conf", mode: 0o100644, data: []byte(kernelConf)})
	r := startRig(t, rigConfig{kernel: kt.image, dtb: dtb, files: mods})
	con := r.con

	var info struct {
		Release string `json:"release"`
	}
	con.call(10*time.Second, &info, "info")
	if info.Release != kt.release {
		t.Fatalf("guest runs kernel %q, want Debian's %q", info.Release, kt.release)
	}
	var loaded map[string][]string
	con.call(30*time.Second, &loaded, "insmod", order...)
	t.Logf("guest kernel %s; insmod: %v", info.Release, loaded)

	t.Run("driver", func(t *testing.T) {
		const slots, skip = 8, 4
		id := con.send("kedges", ppsDev, fmt.Sprint(slots-1), "40")
		var open struct {
			Caps, Mode int
			Devices    []struct{ Dev, Name, Path string }
			WaitedMs   int64 `json:"waited_ms"`
		}
		if err := decodeAnswer(con.wait(id, 30*time.Second, "open", "kedges"), &open); err != nil {
			t.Fatalf("pps.OpenKernel(%s) in the guest: %v", ppsDev, err)
		}
		t.Logf("%s: caps %#x mode %#x (appeared after %d ms); PPS devices %+v", ppsDev, open.Caps, open.Mode, open.WaitedMs, open.Devices)
		// pps-gpio without capture-clear: assert only, timespec, can wait,
		// and the assert offset bit (a zero offset: OpenKernel keeps it).
		const capAssert, capClear, offAssert, canWait, tsSpec = 0x01, 0x02, 0x10, 0x100, 0x1000
		if open.Caps&(capAssert|canWait|tsSpec) != capAssert|canWait|tsSpec {
			t.Errorf("caps %#x lack PPS_CAPTUREASSERT|PPS_CANWAIT|PPS_TSFMT_TSPEC", open.Caps)
		}
		if open.Mode&capAssert == 0 || open.Mode&^(capAssert|capClear|offAssert|canWait|tsSpec) != 0 {
			t.Errorf("mode %#x after OpenKernel: want capture assert, no echo, no other bits", open.Mode)
		}
		if len(open.Devices) != 1 || open.Devices[0].Dev != ppsDev {
			t.Errorf("PPS devices %+v: want pps-gpio's %s alone", open.Devices, ppsDev)
		}

		sent := pulseSlots(t, r.qmp, slots, skip)
		edges := readEdges(t, con, id, len(sent))
		// Sequence numbers are pps-gpio's assert_sequence, counted from 1
		// like the GPIO line's line_seqno: checkEdges holds as it is.
		missed := checkEdges(t, edges, sent, skip)
		t.Logf("BENCH vm-kernelpps-driver edges %d/%d sent, missed %d detected (1 skipped)", len(edges), len(sent), missed)
	})

	t.Run("clear", func(t *testing.T) {
		// pps-gpio without capture-clear cannot capture the clear edge:
		// OpenKernel refuses it at PPS_GETCAP rather than wait forever.
		l := con.wait(con.send("kedges", ppsDev, "1", "2", "clear"), 20*time.Second, "open", "kedges")
		err := decodeAnswer(l, nil)
		t.Logf("pps.OpenKernel(%s, clear): %v", ppsDev, err)
		if l.verb != "kedges" || err == nil || !strings.Contains(err.Error(), "clear edge") {
			t.Errorf("pps.OpenKernel(%s, clear) answered %s %s: want an error saying it cannot capture the clear edge", ppsDev, l.verb, l.body)
		}
		if l.verb == "open" {
			con.wait(l.id, 10*time.Second, "kedges")
		}
	})

	t.Run("busy", func(t *testing.T) {
		// pps-gpio holds the line: the GPIO driver is refused, and says who
		// has it.
		var li pps.LineInfo
		con.call(10*time.Second, &li, "lineinfo", pl061, ppsLine)
		t.Logf("line %s of %s: consumer %q flags %v", ppsLine, pl061, li.Consumer, li.Flags)
		if !slices.Contains(li.Flags, "used") {
			t.Errorf("line %s of %s not in use with pps-gpio bound: %+v", ppsLine, pl061, li)
		}
		l := con.wait(con.send("edges", pl061, ppsLine, "1", "2"), 20*time.Second, "open", "edges")
		err := decodeAnswer(l, nil)
		t.Logf("pps.OpenGPIO on it: %v", err)
		if l.verb != "edges" || err == nil || !strings.Contains(err.Error(), "busy") || !strings.Contains(err.Error(), li.Consumer) {
			t.Errorf("pps.OpenGPIO on the line pps-gpio holds answered %s %s: want an error saying it is busy and held by %q", l.verb, l.body, li.Consumer)
		}
		if l.verb == "open" {
			con.wait(l.id, 10*time.Second, "edges")
		}
	})
	if t.Failed() {
		return
	}
	t.Run("daemon", func(t *testing.T) { kernelDaemonPhase(t, r) })
	t.Logf("BENCH vm-kernelpps-total %.1fs (kernel fetch or cache, boot, insmod, %s)", time.Since(testStart).Seconds(), t.Name())
}

// debianKernel returns Debian's arm64 kernel, unpacked: from
// $GPSNTP_VMTEST_DEBIAN_KERNEL, from the user cache directory, or fetched
// with apt-get from the host's own Debian mirror into that cache (about
// 100 MB). It skips the test, saying what is missing, when none works.
func debianKernel(t *testing.T) kernelTree {
	t.Helper()
	if p := os.Getenv(debianKernelEnv); p != "" {
		if strings.HasSuffix(p, ".deb") {
			dir := t.TempDir()
			if err := unpackKernelDeb(p, dir); err != nil {
				t.Fatalf("%s=%s: %v", debianKernelEnv, p, err)
			}
			p = dir
		}
		kt, err := loadKernelTree(p)
		if err != nil {
			t.Fatalf("%s: %v", debianKernelEnv, err)
		}
		return kt
	}
	cacheRoot, err := os.UserCacheDir()
	if err != nil {
		cacheRoot = os.TempDir()
	}
	cache := filepath.Join(cacheRoot, "gpsntp", "vmtest-debian-"+debianKernelSuite+"-arm64-kernel")
	if kt, err := loadKernelTree(cache); err == nil {
		return kt
	}
	start := time.Now()
	if err := fetchDebianKernel(t, cache); err != nil {
		t.Skipf("cannot get Debian %s's arm64 kernel (it has pps-gpio; the Pi kernel has not): %v\n"+
			"needs apt-get with a Debian mirror in the host's apt sources, dpkg-deb and xz (apt-get install xz-utils); "+
			"or set %s to a linux-image-*-arm64_*_arm64.deb from %s",
			debianKernelSuite, err, debianKernelEnv, debianKernelSuite)
	}
	kt, err := loadKernelTree(cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BENCH vm-kernelpps-fetch %.1fs (Debian %s linux-image %s into %s)", time.Since(start).Seconds(), debianKernelSuite, kt.release, cache)
	return kt
}

// loadKernelTree finds the Image and modules of an unpacked kernel .deb.
func loadKernelTree(dir string) (kernelTree, error) {
	images, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return kernelTree{}, fmt.Errorf("%s: want one boot/vmlinuz-*, found %d", dir, len(images))
	}
	release := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	for _, lib := range []string{"usr/lib", "lib"} {
		mods := filepath.Join(dir, lib, "modules", release, "kernel")
		if st, err := os.Stat(mods); err == nil && st.IsDir() {
			return kernelTree{release: release, image: images[0], modules: mods}, nil
		}
	}
	return kernelTree{}, fmt.Errorf("%s: no modules for %s", dir, release)
}

// fetchDebianKernel downloads linux-image-arm64's kernel package from the
// configured suite into dest. apt runs with its own lists, cache and
// status (all under a temporary directory) and only arm64: the host's apt
// state and architectures are left alone. The mirror is the one the
// host's apt sources use for its own release.
func fetchDebianKernel(t *testing.T, dest string) error {
	for _, bin := range []string{"apt-get", "apt-cache", "dpkg-deb", "xz"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found", bin)
		}
	}
	mirror, err := debianMirror()
	if err != nil {
		return err
	}
	// Unpacked beside dest, then renamed: a cache is whole or absent.
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), ".fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"lists/partial", "cache/archives/partial", "deb"} {
		os.MkdirAll(filepath.Join(tmp, d), 0o755)
	}
	sources := filepath.Join(tmp, "sources.list")
	os.WriteFile(sources, []byte(fmt.Sprintf("deb %s %s main\n", mirror, debianKernelSuite)), 0o644)
	os.WriteFile(filepath.Join(tmp, "status"), nil, 0o644)
	opts := []string{
		"-o", "APT::Architecture=arm64", "-o", "APT::Architectures=arm64",
		"-o", "Dir::Etc::SourceList=" + sources, "-o", "Dir::Etc::SourceParts=-",
		"-o", "Dir::State::Lists=" + filepath.Join(tmp, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(tmp, "cache"),
		"-o", "Dir::State::Status=" + filepath.Join(tmp, "status"),
		"-o", "Acquire::Languages=none", "-o", "APT::Sandbox::User=root",
	}
	apt := func(dir, bin string, args ...string) ([]byte, error) {
		cmd := exec.Command(bin, append(slices.Clone(opts), args...)...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.Bytes())
		}
		return out, nil
	}
	if _, err := apt(tmp, "apt-get", "-qq", "update"); err != nil {
		return err
	}
	out, err := apt(tmp, "apt-cache", "depends", "linux-image-arm64")
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`(?m)^\s*Depends: (linux-image-[0-9][^\s:]*-arm64)\s*$`).FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("apt-cache depends linux-image-arm64: no linux-image-…-arm64 in\n%s", out)
	}
	if _, err := apt(filepath.Join(tmp, "deb"), "apt-get", "-qq", "download", string(m[1])); err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "deb", "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download %s: %d .deb files", m[1], len(debs))
	}
	unpacked := filepath.Join(tmp, "unpacked")
	if err := unpackKernelDeb(debs[0], unpacked); err != nil {
		return err
	}
	if _, err := loadKernelTree(unpacked); err != nil {
		return err
	}
	os.RemoveAll(dest)
	return os.Rename(unpacked, dest)
}

// unpackKernelDeb extracts a kernel .deb (dpkg-deb -x).
func unpackKernelDeb(deb, dir string) error {
	if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x %s: %v\n%s", deb, err, out)
	}
	return nil
}

// debianMirror is the URI the host's apt sources use for its own Debian
// release's main component (apt-get indextargets reads both source
// formats).
func debianMirror() (string, error) {
	out, err := exec.Command("apt-get", "indextargets", "--format", "$(REPO_URI) $(RELEASE) $(COMPONENT) $(CREATED_BY)").Output()
	if err != nil {
		return "", fmt.Errorf("apt-get indextargets: %v", err)
	}
	osRelease, _ := os.ReadFile("/etc/os-release")
	codename := ""
	if m := regexp.MustCompile(`(?m)^VERSION_CODENAME=(\S+)$`).FindSubmatch(osRelease); m != nil {
		codename = string(m[1])
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && (f[1] == codename || f[1] == debianKernelSuite) && f[2] == "main" && f[3] == "Packages" {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("no Debian mirror for %q main among the host's apt sources (apt-get indextargets):\n%s", codename, out)
}

// ppsGPIODTB writes QEMU's own virt device tree (same machine, CPU and
// memory as startRig) with gpio-keys disabled and a pps-gpio node on the
// PL061's line 3, the power button's: it follows whatever QEMU generates.
func ppsGPIODTB(t *testing.T, dir string) string {
	t.Helper()
	virt := filepath.Join(dir, "virt.dtb")
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("qemu-system-aarch64", "-M", "virt,acpi=off,dumpdtb="+virt, "-cpu", "cortex-a72", "-smp", "1", "-m", "512", "-display", "none")
	dts := filepath.Join(dir, "virt.dts")
	run("dtc", "-q", "-I", "dtb", "-O", "dts", "-o", dts, virt)
	src, err := os.ReadFile(dts)
	if err != nil {
		t.Fatal(err)
	}
	gpio, keys := topNodeWith(src, `"arm,pl061`), topNodeWith(src, `"gpio-keys"`)
	if gpio == "" || keys == "" {
		t.Fatalf("QEMU's virt device tree (%s): no top-level node compatible with arm,pl061 (%q) or gpio-keys (%q)", dts, gpio, keys)
	}
	// Nodes are referred to by path: QEMU's tree has phandles but no
	// labels.
	src = append(src, fmt.Sprintf(`
&{/%s} { status = "disabled"; };
/ {
	pps {
		compatible = "pps-gpio";
		gpios = <&{/%s} %s 0>;
	};
};
`, keys, gpio, ppsLine)...)
	if err := os.WriteFile(dts, src, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "virt-pps.dtb")
	run("dtc", "-q", "-I", "dts", "-O", "dtb", "-o", out, dts)
	return out
}

// topNodeWith is the name of the first top-level node of a decompiled
// device tree whose text (its own or a child's) contains s.
func topNodeWith(dts []byte, s string) string {
	depth, name := 0, ""
	for _, l := range strings.Split(string(dts), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasSuffix(l, "{") {
			depth++
			if depth == 2 {
				name = strings.TrimSpace(strings.TrimSuffix(l, "{"))
			}
		}
		if depth >= 2 && strings.Contains(l, s) {
			return name
		}
		if strings.HasPrefix(l, "}") {
			depth--
		}
	}
	return ""
}

// moduleFiles returns the modules named (with what they depend on, read
// from each one's .modinfo) as initramfs entries under lib/modules/, and
// their guest paths in load order. Built-in modules appear in no
// depends= line, so everything named must be a module file.
func moduleFiles(t *testing.T, kt kernelTree, names ...string) ([]cpioEntry, []string) {
	t.Helper()
	norm := func(s string) string { return strings.ReplaceAll(s, "-", "_") }
	files := map[string]string{}
	filepath.WalkDir(kt.modules, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if i := strings.Index(d.Name(), ".ko"); i > 0 {
				files[norm(d.Name()[:i])] = p
			}
		}
		return nil
	})
	var entries []cpioEntry
	var order []string
	seen := map[string]bool{}
	var add func(name string, from []string)
	add = func(name string, from []string) {
		name = norm(name)
		if seen[name] {
			return
		}
		seen[name] = true
		p, ok := files[name]
		if !ok {
			t.Fatalf("module %s (needed by %v) not in %s", name, from, kt.modules)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ko, err := decompressModule(p, raw)
		if err != nil {
			t.Fatal(err)
		}
		deps, err := moduleDepends(ko)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, d := range deps {
			add(d, append(from, name))
		}
		// Shipped as packed: the guest kernel decompresses it
		// (finit_module's MODULE_INIT_COMPRESSED_FILE).
		guest := "lib/modules/" + filepath.Base(p)
		entries = append(entries, cpioEntry{name: guest, mode: 0o100644, data: raw})
		order = append(order, "/"+guest)
	}
	for _, n := range names {
		add(n, nil)
	}
	dirs := []cpioEntry{{name: "lib", mode: 0o040755}, {name: "lib/modules", mode: 0o040755}}
	return append(dirs, entries...), order
}

// decompressModule unpacks a .ko.xz (with xz), .ko.gz or plain .ko.
func decompressModule(path string, raw []byte) ([]byte, error) {
	switch {
	case strings.HasSuffix(path, ".xz"):
		cmd := exec.Command("xz", "-dc")
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("xz -dc %s: %v (apt-get install xz-utils)", path, err)
		}
		return out, nil
	case strings.HasSuffix(path, ".gz"):
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		return io.ReadAll(zr)
	case strings.HasSuffix(path, ".ko"):
		return raw, nil
	}
	return nil, fmt.Errorf("%s: unknown module compression", path)
}

// moduleDepends reads depends= from a module's .modinfo section.
func moduleDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	s := f.Section(".modinfo")
	if s == nil {
		return nil, errors.New("no .modinfo section")
	}
	b, err := s.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}

// kernelDaemonPhase runs gpsntpd in the guest with `pps /dev/pps0`, the
// host's simulated receiver labelling the seconds the host pulses (as
// TestVMGPIO's daemon phase does): lock to PPS through the kernel PPS
// driver, a skipped pulse counted missed, pulses stopping, pps-gpio
// unbound under the daemon and bound again.
func kernelDaemonPhase(t *testing.T, r *rig) {
	p := startGPS(t, r)

	r.con.call(10*time.Second, nil, "start", "/etc/kernel.conf")
	s := waitLocked(t, r, p, "vm-kernelpps-first-pulse-to-pps")

	// One pulse skipped: the kernel's assert_sequence has no gap (it
	// counts the edges it saw), so the interval tells, and the lock holds.
	s = skipOnePulse(t, r, p, s)

	// Pulses stop: the daemon falls back to NMEA time and says why.
	p.paused.Store(true)
	s = waitStatus(t, r, p, 60*time.Second, "alarmed by the silent PPS", func(s agentwire.Status) bool { return s.Alarm("no pulses") })
	t.Logf("pulses stopped: state %s refid %s, alarm %q", s.State, s.RefID, s.Alarms)
	if s.State == "pps" {
		t.Errorf("state still pps with no pulses for 30 s")
	}
	p.paused.Store(false)
	edges := s.PPS.Edges
	s = waitStatus(t, r, p, 30*time.Second, "clear of the silence alarm", func(s agentwire.Status) bool { return s.PPS.Edges > edges && !s.Alarm("no pulses") })

	// pps-gpio lets go of the line under the daemon (its device goes
	// away, /dev/pps0 with it) and binds again (a new device, most likely
	// /dev/pps0 again): an alarm, then the new device reopened and edges
	// again. A descriptor of the old device stays valid but never sees a
	// pulse: PPS_FETCH just times out.
	r.con.call(10*time.Second, nil, "unbind", ppsPlatformDev)
	s = waitStatus(t, r, p, 60*time.Second, "alarmed by the vanished PPS device", func(s agentwire.Status) bool {
		return s.Alarm("cannot be opened") || s.Alarm("no pulses")
	})
	t.Logf("pps-gpio unbound: state %s, alarms %q", s.State, s.Alarms)
	r.con.call(10*time.Second, nil, "bind", ppsPlatformDev)
	// The kernel side works: a fresh open of the new device gets edges.
	kid := r.con.send("kedges", ppsDev, "2", "10")
	fresh := 0
	for {
		l := r.con.wait(kid, 30*time.Second)
		if l.verb == "edge" {
			fresh++
			continue
		}
		if l.verb == "kedges" {
			if err := decodeAnswer(l, nil); err != nil {
				t.Errorf("pps.OpenKernel(%s) after pps-gpio bound again: %v", ppsDev, err)
			}
			break
		}
	}
	t.Logf("pps-gpio bound again: a fresh pps.OpenKernel(%s) read %d edges", ppsDev, fresh)
	edges = s.PPS.Edges
	s = waitStatus(t, r, p, 60*time.Second, "reading edges from the new "+ppsDev+
		" (if it has the old device's descriptor still, whose PPS_FETCH times out for ever, pps.Kernel does not notice the device was unregistered)",
		func(s agentwire.Status) bool {
			return s.PPS.Edges > edges+2 && !s.Alarm("cannot be opened") && !s.Alarm("no pulses")
		})
	t.Logf("pps-gpio bound again: daemon edges %d → %d, state %s, alarms %q", edges, s.PPS.Edges, s.State, s.Alarms)

	var stop struct {
		Ms   int64  `json:"ms"`
		Exit string `json:"exit"`
	}
	r.con.call(30*time.Second, &stop, "stop")
	t.Logf("gpsntpd stopped in %d ms, exit %s", stop.Ms, stop.Exit)
	if stop.Exit != "0" {
		t.Errorf("gpsntpd exit on SIGTERM: %s", stop.Exit)
	}
}
