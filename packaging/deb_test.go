package packaging

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// A Raspberry Pi OS bookworm config.txt, shortened, ending in a model filter
// section so the test sees that our block starts with [all].
const piConfigTxt = `# For more options and information see
# http://rptl.io/configtxt
dtparam=audio=on
camera_auto_detect=1
display_auto_detect=1
auto_initramfs=1
dtoverlay=vc4-kms-v3d
max_framebuffers=2
disable_fw_kms_setup=1
arm_64bit=1
disable_overscan=1
arm_boost=1

[cm4]
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host
`

const piCmdline = "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles\n"

const beginMark = "# BEGIN gpsntp: managed by the gpsntp package, see /etc/default/gpsntp"

// repoRoot is the module root (this package is one level down).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// buildDebs runs `make deb` into a temporary directory once per test binary.
func buildDebs(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"make", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install make dpkg): cannot build or unpack the .deb packages", tool)
		}
	}
	if env := os.Getenv("GPSNTP_DEB_DIR"); env != "" {
		return env // prebuilt by the caller (e.g. `make deb` already ran)
	}
	tmp := t.TempDir()
	dist := filepath.Join(tmp, "dist")
	cmd := exec.Command("make", "--no-print-directory", "-C", repoRoot(t), "deb",
		"DIST="+dist, "BIN="+filepath.Join(tmp, "bin"), "VERSION=1.2.3+test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	return dist
}

func TestDebPackages(t *testing.T) {
	dist := buildDebs(t)
	for _, tc := range []struct {
		arch    string
		machine elf.Machine
	}{
		{"arm64", elf.EM_AARCH64},
		{"armhf", elf.EM_ARM},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			debs, _ := filepath.Glob(filepath.Join(dist, "gpsntp_*_"+tc.arch+".deb"))
			if len(debs) != 1 {
				t.Fatalf("glob gpsntp_*_%s.deb in %s = %v, want exactly one", tc.arch, dist, debs)
			}
			deb := debs[0]
			checkControl(t, deb, tc.arch)
			root := t.TempDir()
			ctrl := t.TempDir()
			run(t, nil, "dpkg-deb", "-x", deb, root)
			run(t, nil, "dpkg-deb", "-e", deb, ctrl)
			checkPayload(t, root, ctrl, tc.machine)
			checkMaintainerScripts(t, root, ctrl)
		})
	}
}

func checkControl(t *testing.T, deb, arch string) {
	fields := map[string]string{}
	for _, f := range []string{"Package", "Architecture", "Version", "Provides", "Conflicts", "Replaces", "Depends"} {
		fields[f] = strings.TrimSpace(run(t, nil, "dpkg-deb", "-f", deb, f))
	}
	want := map[string]string{
		"Package": "gpsntp", "Architecture": arch,
		"Provides": "time-daemon", "Conflicts": "time-daemon", "Replaces": "time-daemon",
		"Depends": "adduser, tzdata",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("dpkg-deb -f %s %s = %q, want %q", filepath.Base(deb), k, fields[k], v)
		}
	}
	if fields["Version"] == "" {
		t.Errorf("dpkg-deb -f %s Version is empty", filepath.Base(deb))
	}
}

func checkPayload(t *testing.T, root, ctrl string, machine elf.Machine) {
	f, err := elf.Open(filepath.Join(root, "usr/bin/gpsntpd"))
	if err != nil {
		t.Fatalf("usr/bin/gpsntpd: %v", err)
	}
	if f.Machine != machine {
		t.Errorf("usr/bin/gpsntpd machine = %v, want %v", f.Machine, machine)
	}
	f.Close()
	if st, err := os.Stat(filepath.Join(root, "usr/bin/gpsntpd")); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("usr/bin/gpsntpd not executable: %v %v", st, err)
	}

	// The operator's binaries only: ./cmd/... also builds ntpload, a
	// load generator for benchmarks.
	if bins := listDir(t, filepath.Join(root, "usr/bin")); strings.Join(bins, " ") != "gpsntpctl gpsntpd" {
		t.Errorf("usr/bin = %v, want [gpsntpctl gpsntpd]", bins)
	}

	conffiles := readFile(t, filepath.Join(ctrl, "conffiles"))
	for _, c := range []string{"/etc/gpsntp/ntp.conf", "/etc/default/gpsntp"} {
		if !strings.Contains(conffiles, c+"\n") {
			t.Errorf("conffiles = %q, want it to list %s", conffiles, c)
		}
	}

	// The shipped config parses, its restrict lines mean something, and
	// it steers the system clock from the kernel PPS device.
	confPath := filepath.Join(root, "etc/gpsntp/ntp.conf")
	cfg, err := config.Load(confPath)
	if err != nil {
		t.Fatalf("shipped ntp.conf: %v", err)
	}
	for _, r := range cfg.Restricts {
		if _, err := restrict.ParseRestrict(r.Args); err != nil {
			t.Errorf("%s: restrict %v: %v", r.Pos, r.Args, err)
		}
	}
	if cfg.Clock != "system" || cfg.PPS.Kind != "kernel" || cfg.PPS.Device != "/dev/pps0" || cfg.GPS.Device != "/dev/serial0" {
		t.Errorf("shipped ntp.conf: clock=%q pps=%+v gps=%+v, want clock system, pps /dev/pps0, gps /dev/serial0", cfg.Clock, cfg.PPS, cfg.GPS)
	}

	unit := readFile(t, filepath.Join(root, "usr/lib/systemd/system/gpsntp.service"))
	for _, line := range []string{
		"User=gpsntp",
		"AmbientCapabilities=CAP_SYS_TIME CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_SYS_TIME CAP_NET_BIND_SERVICE",
		"Restart=always",
		"ExecStart=/usr/bin/gpsntpd -config /etc/gpsntp/ntp.conf -status-interval 60s",
		"WantedBy=multi-user.target",
	} {
		if !hasLine(unit, line) {
			t.Errorf("gpsntp.service lacks line %q", line)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "usr/lib/udev/rules.d/60-gpsntp.rules")); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if st, err := os.Stat(filepath.Join(ctrl, s)); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("control/%s missing or not executable: %v", s, err)
		}
	}
}

// fakeRoot makes a Raspberry Pi OS-like root under dir: the boot partition
// (in /boot/firmware, or /boot for releases before bookworm), the package's
// /etc/default/gpsntp, and /run/systemd/system so the scripts talk to
// systemd, which is a stub.
func fakeRoot(t *testing.T, pkgRoot, bootDir string) (root, stubLog string, env []string) {
	root = t.TempDir()
	boot := filepath.Join(root, bootDir)
	for _, d := range []string{boot, filepath.Join(root, "etc/default"), filepath.Join(root, "etc/gpsntp"), filepath.Join(root, "dev"), filepath.Join(root, "run/systemd/system")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(boot, "config.txt"), piConfigTxt)
	writeFile(t, filepath.Join(boot, "cmdline.txt"), piCmdline)
	writeFile(t, filepath.Join(root, "etc/default/gpsntp"), readFile(t, filepath.Join(pkgRoot, "etc/default/gpsntp")))
	writeFile(t, filepath.Join(root, "etc/gpsntp/ntp.conf"), readFile(t, filepath.Join(pkgRoot, "etc/gpsntp/ntp.conf")))

	// Stubs for the commands that would change this machine: they record
	// their arguments. getent knows the gpsntp user and group once adduser
	// made them, the admin alice (uid 1000) and toor (uid 0); `adduser
	// alice gpsntp` makes alice a member.
	stubs := t.TempDir()
	stubLog = filepath.Join(stubs, "calls.log")
	state := filepath.Join(stubs, "user-exists")
	for name, body := range map[string]string{
		"systemctl": `echo "systemctl $*" >>"$STUB_LOG"`,
		"udevadm":   `echo "udevadm $*" >>"$STUB_LOG"`,
		"deluser":   `echo "deluser $*" >>"$STUB_LOG"`,
		"chown":     `echo "chown $*" >>"$STUB_LOG"`,
		"adduser": `echo "adduser $*" >>"$STUB_LOG"
case "$*" in
*--system*) touch "$STUB_STATE" ;;
"alice gpsntp") echo alice >"$STUB_STATE.members" ;;
esac`,
		"getent": `echo "getent $*" >>"$STUB_LOG"
case "$1 $2" in
"passwd gpsntp") [ -e "$STUB_STATE" ] && echo "gpsntp:x:999:999::/var/lib/gpsntp:/usr/sbin/nologin" ;;
"passwd alice") echo "alice:x:1000:1000::/home/alice:/bin/bash" ;;
"passwd toor") echo "toor:x:0:0::/root:/bin/sh" ;;
"group gpsntp") [ -e "$STUB_STATE" ] && echo "gpsntp:x:999:$(cat "$STUB_STATE.members" 2>/dev/null)" ;;
*) exit 2 ;;
esac`,
	} {
		writeFile(t, filepath.Join(stubs, name), "#!/bin/sh\n"+body+"\n")
		if err := os.Chmod(filepath.Join(stubs, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env = []string{
		"PATH=" + stubs + ":/usr/bin:/bin",
		"DPKG_ROOT=" + root,
		"STUB_LOG=" + stubLog,
		"STUB_STATE=" + state,
		"DPKG_MAINTSCRIPT_NAME=postinst",
		"DPKG_MAINTSCRIPT_PACKAGE=gpsntp",
	}
	return root, stubLog, env
}

func checkMaintainerScripts(t *testing.T, pkgRoot, ctrl string) {
	for _, bootDir := range []string{"boot/firmware", "boot"} {
		t.Run(strings.ReplaceAll(bootDir, "/", "_"), func(t *testing.T) {
			root, stubLog, env := fakeRoot(t, pkgRoot, bootDir)
			cfgPath := filepath.Join(root, bootDir, "config.txt")
			cmdPath := filepath.Join(root, bootDir, "cmdline.txt")
			postinst := filepath.Join(ctrl, "postinst")

			// Installed with sudo by alice, before the reboot the overlay
			// needs: no /dev/pps0 yet.
			sudoEnv := append(env[:len(env):len(env)], "SUDO_USER=alice")
			out1 := run(t, sudoEnv, postinst, "configure", "")
			cfg1, cmd1 := readFile(t, cfgPath), readFile(t, cmdPath)
			checkBoot(t, cfg1, cmd1, "18")
			for _, want := range []string{
				"updated config.txt",
				"/dev/pps0 does not exist yet",
				"reboot needed",
				"added alice to group gpsntp",
				"log out and in again",
			} {
				if !strings.Contains(out1, want) {
					t.Errorf("first postinst output = %q, want it to say %q", out1, want)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "run/reboot-required")); err != nil {
				t.Errorf("first postinst: %v", err)
			}

			// Again before rebooting, as dpkg-reconfigure or a reinstall
			// would: nothing changes, the reboot is still needed, alice is
			// a member already.
			if err := os.Remove(filepath.Join(root, "run/reboot-required")); err != nil {
				t.Fatal(err)
			}
			out2 := run(t, sudoEnv, postinst, "configure", "1.2.2")
			if cfg2 := readFile(t, cfgPath); cfg2 != cfg1 {
				t.Errorf("second postinst changed config.txt:\n--- first\n%s--- second\n%s", cfg1, cfg2)
			}
			if cmd2 := readFile(t, cmdPath); cmd2 != cmd1 {
				t.Errorf("second postinst changed cmdline.txt: %q → %q", cmd1, cmd2)
			}
			if !strings.Contains(out2, "/dev/pps0 does not exist yet") || !strings.Contains(out2, "reboot needed") ||
				strings.Contains(out2, "updated config.txt") || strings.Contains(out2, "alice") {
				t.Errorf("second postinst output = %q, want only the reboot still needed for /dev/pps0", out2)
			}
			if _, err := os.Stat(filepath.Join(root, "run/reboot-required")); err != nil {
				t.Errorf("second postinst, /dev/pps0 missing: %v", err)
			}

			// After the reboot /dev/pps0 exists: nothing to say.
			writeFile(t, filepath.Join(root, "dev/pps0"), "")
			out3 := run(t, env, postinst, "configure", "1.2.2")
			if strings.Contains(out3, "reboot") {
				t.Errorf("third postinst output = %q, want no reboot request when nothing changed and /dev/pps0 exists", out3)
			}
			// Never root, a uid 0 alias or an unknown account.
			for _, u := range []string{"root", "toor", "ghost"} {
				run(t, append(env[:len(env):len(env)], "SUDO_USER="+u), postinst, "configure", "1.2.2")
			}
			calls := readFile(t, stubLog)
			if n := strings.Count(calls, "adduser --system"); n != 1 {
				t.Errorf("adduser --system ran %d times in six postinst runs, want 1; calls:\n%s", n, calls)
			}
			if n := strings.Count(calls, "adduser alice gpsntp"); n != 1 {
				t.Errorf("adduser alice gpsntp ran %d times, want 1; calls:\n%s", n, calls)
			}
			for _, u := range []string{"root", "toor", "ghost"} {
				if strings.Contains(calls, "adduser "+u+" gpsntp") {
					t.Errorf("postinst with SUDO_USER=%s added %s to group gpsntp; calls:\n%s", u, u, calls)
				}
			}
			for _, want := range []string{"systemctl enable gpsntp.service", "systemctl disable --now hciuart.service", "adduser gpsntp dialout"} {
				if !strings.Contains(calls, want) {
					t.Errorf("postinst never ran %q; calls:\n%s", want, calls)
				}
			}

			// The user moves PPS to GPIO 4 (Adafruit HAT) and reconfigures.
			def := filepath.Join(root, "etc/default/gpsntp")
			writeFile(t, def, strings.Replace(readFile(t, def), "PPS_GPIO=18", "PPS_GPIO=4", 1))
			run(t, env, postinst, "configure", "1.2.3")
			checkBoot(t, readFile(t, cfgPath), readFile(t, cmdPath), "4")

			// Remove: our block goes, the user's lines stay as they were.
			run(t, env, filepath.Join(ctrl, "prerm"), "remove")
			run(t, env, filepath.Join(ctrl, "postrm"), "remove")
			if got := readFile(t, cfgPath); got != piConfigTxt {
				t.Errorf("config.txt after remove:\n%s\nwant the original:\n%s", got, piConfigTxt)
			}
			if calls := readFile(t, stubLog); !strings.Contains(calls, "systemctl stop gpsntp.service") {
				t.Errorf("prerm remove did not stop the service; calls:\n%s", calls)
			}
		})
	}
}

// checkBoot checks config.txt holds the original lines and exactly one
// managed block with the UART and pps-gpio lines, and that cmdline.txt lost
// only the serial console.
func checkBoot(t *testing.T, cfg, cmdline, gpio string) {
	t.Helper()
	if !strings.HasPrefix(cfg, piConfigTxt) {
		t.Errorf("config.txt does not start with the original content:\n%s", cfg)
	}
	if n := strings.Count(cfg, beginMark); n != 1 {
		t.Errorf("config.txt has %d gpsntp blocks, want 1:\n%s", n, cfg)
	}
	block := cfg[strings.Index(cfg, beginMark):]
	for _, l := range []string{"[all]", "enable_uart=1", "dtoverlay=disable-bt", "dtoverlay=pps-gpio,gpiopin=" + gpio, "# END gpsntp"} {
		if !hasLine(block, l) {
			t.Errorf("config.txt block lacks line %q:\n%s", l, block)
		}
	}
	// A Pi 5's header UART, as the board table has it, in its own
	// section, and [all] again before the PPS overlay.
	pi5, _ := board.ByName("pi5")
	want5 := "[pi5]\n" + strings.Join(pi5.ConfigTxt, "\n") + "\n[all]\ndtoverlay=pps-gpio"
	if !strings.Contains(block, want5) {
		t.Errorf("config.txt block lacks the Pi 5 section\n%s\n(the board table's lines):\n%s", want5, block)
	}
	if n := strings.Count(cfg, "dtoverlay=pps-gpio"); n != 1 {
		t.Errorf("config.txt has %d pps-gpio overlays, want 1:\n%s", n, cfg)
	}
	want := "console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles\n"
	if cmdline != want {
		t.Errorf("cmdline.txt = %q, want %q", cmdline, want)
	}
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = env
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out) + stderr.String()
}

func hasLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listDir is the sorted names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
