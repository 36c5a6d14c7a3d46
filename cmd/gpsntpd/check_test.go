//go:build linux

package main

import (
	"github.com/gpsntp/gpsntp/board"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpsntp/gpsntp/config"
)

// A uid and gid that no passwd entry names: `user 4242` is taken as that
// uid and group (lookupTarget's gokrazy case), so the tests need no user
// of this machine.
const testUID = 4242

// stateDirs makes directories for the driftfile/timefile rows, each with
// its owner and mode, under a parent every user may enter (t.TempDir's
// own parent is 0700).
func stateDirs(t *testing.T) map[string]string {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(filepath.Dir(root), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{}
	for _, d := range []struct {
		name     string
		uid, gid int
		mode     os.FileMode
	}{
		{"rootonly", 0, 0, 0o755},
		{"mine", testUID, testUID, 0o700},
		{"group", 0, testUID, 0o770},
		{"groupro", 0, testUID, 0o750},
		{"everyone", 0, 0, 0o777},
		{"closed", 0, 0, 0o700}, // with closed/open below it
	} {
		p := filepath.Join(root, d.name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, d.uid, d.gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			t.Fatal(err)
		}
		dirs[d.name] = p
	}
	open := filepath.Join(dirs["closed"], "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o777)
	dirs["closed/open"] = open
	dirs["missing"] = filepath.Join(root, "missing")
	dirs["file"] = filepath.Join(root, "file")
	os.WriteFile(dirs["file"], nil, 0o644)
	return dirs
}

// Each configuration mistake of issue 10 that needs this machine to see
// (the parser's are in config's tests) is an error naming file:line.
func TestValidateRejects(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the test directories their owners")
	}
	dirs := stateDirs(t)
	devDir := t.TempDir()
	link := filepath.Join(devDir, "serial0")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, src, want string }{
		{"driftfile directory missing", "driftfile " + dirs["missing"] + "/drift",
			"x.conf:1: driftfile " + dirs["missing"] + "/drift: directory " + dirs["missing"] + " does not exist: create it, writable by the daemon"},
		{"timefile directory is a file", "\ntimefile " + dirs["file"] + "/t", "x.conf:2: timefile " + dirs["file"] + "/t: " + dirs["file"] + " is not a directory"},
		{"driftfile root's, user 4242", "user 4242\ndriftfile " + dirs["rootonly"] + "/drift",
			"x.conf:2: driftfile " + dirs["rootonly"] + "/drift: uid 4242 cannot create files in " + dirs["rootonly"] + ": it may not write to " + dirs["rootonly"] + " (owner 0:0, mode -rwxr-xr-x) (the frequency correction would never be saved)"},
		{"timefile group without write", "timefile " + dirs["groupro"] + "/t\nuser 4242",
			"x.conf:1: timefile " + dirs["groupro"] + "/t: uid 4242 cannot create files in " + dirs["groupro"] + ": it may not write to"},
		{"ancestor not searchable", "user 4242\ndriftfile " + dirs["closed/open"] + "/drift",
			"uid 4242 cannot create files in " + dirs["closed/open"] + ": it may not enter (search) " + dirs["closed"] + " (owner 0:0, mode -rwx------)"},
		{"driftfile and timefile one file", "driftfile " + dirs["everyone"] + "/x\ntimefile " + dirs["everyone"] + "/./x",
			"x.conf:2: timefile " + dirs["everyone"] + "/./x: the same file as the driftfile (x.conf:1)"},
		{"user nosuchuser", "clock soft\nuser nosuchuser", "x.conf:2: user nosuchuser: no such user on this machine: create it (useradd --system nosuchuser) or give a numeric uid"},
		{"user nosuchuser's driftfile directory missing", "user nosuchuser\ndriftfile " + dirs["missing"] + "/drift",
			"x.conf:2: driftfile " + dirs["missing"] + "/drift: directory " + dirs["missing"] + " does not exist: create it, writable by user nosuchuser"},
		{"gps and console one device", "gps /dev/ttyAMA0\nconsole /dev/ttyAMA0",
			"x.conf:2: console /dev/ttyAMA0: the same device as gps /dev/ttyAMA0 (x.conf:1): one device cannot serve both"},
		{"gps and console one device by symlink", "gps " + link + "\nconsole /dev/null baud 9600",
			"x.conf:2: console /dev/null: the same device as gps " + link + " (x.conf:1)"},
		{"console on the default gps device", "console /dev/serial0", "x.conf:1: console /dev/serial0: the same device as gps /dev/serial0 (the default)"},
		{"console on the pps device", "pps /dev/pps0\nconsole /dev/pps0", "x.conf:2: console /dev/pps0: the same device as pps /dev/pps0 (x.conf:1)"},
		{"kod without limited", "restrict default kod nomodify", "x.conf:1: restrict: default: kod without limited does nothing"},
		{"IPv4-mapped prefix", "restrict ::ffff:127.0.4.0/120 ignore", "x.conf:1: restrict: prefix ::ffff:127.0.4.0/120 is IPv4-mapped, which no client matches: IPv4 clients match IPv4 rules; write it as 127.0.4.0/24"},
		{"restrict source", "restrict source nopeer", "x.conf:1: restrict: source: `restrict source` applies to the associations of `server` and `pool` lines, which gpsntpd keeps apart from serving"},
		{"bad address, said once", "restrict ntp.example.org", "x.conf:1: restrict: bad address \"ntp.example.org\""},
		{"bad discard, said once", "discard average 17", "x.conf:1: discard: average 17: want log2 seconds 0..16"},
	} {
		cfg, err := config.Parse("x.conf", strings.NewReader(c.src))
		if err != nil {
			t.Errorf("%s: Parse(%q) = %v", c.name, c.src, err)
			continue
		}
		err = validate(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: validate(%q) = %v\nwant containing %q", c.name, c.src, err, c.want)
			continue
		}
		if s := err.Error(); strings.Contains(s, "restrict: restrict") || strings.Contains(s, "discard: discard") {
			t.Errorf("%s: validate(%q) = %q: prefix said twice", c.name, c.src, s)
		}
	}
}

// What will work passes: the daemon's user owns the directory, is in its
// group with write, or anyone may write; this process (root) needs no
// `user`; numeric users without a passwd entry.
func TestValidateAccepts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the test directories their owners")
	}
	dirs := stateDirs(t)
	for _, src := range []string{
		"user 4242\ndriftfile " + dirs["mine"] + "/drift\ntimefile " + dirs["mine"] + "/t",
		"user 4242\ndriftfile " + dirs["group"] + "/drift",
		"user 4242\ntimefile " + dirs["everyone"] + "/t",
		"driftfile " + dirs["rootonly"] + "/drift",                         // as this process: root
		"user root\ndriftfile " + dirs["rootonly"] + "/drift",              // stays root
		"user 0\ntimefile " + dirs["closed/open"] + "/t",                   // stays root
		"gps /dev/ttyUSB0\nconsole /dev/ttyAMA0\npps /dev/pps1",            // three devices
		"gps /dev/ttyUSB0\nconsole -",                                      // gpsntpd's own terminal
		"restrict default kod limited nomodify\nrestrict ::ffff:127.0.0.1", // a mapped host is its IPv4 address
	} {
		cfg, err := config.Parse("x.conf", strings.NewReader(src))
		if err != nil {
			t.Errorf("Parse(%q) = %v", src, err)
			continue
		}
		if err := validate(cfg); err != nil {
			t.Errorf("validate(%q) = %v, want nil", src, err)
		}
	}
}

// As an unprivileged process without `user`, the kernel's own answer
// (access(2)) decides.
func TestValidateAsThisProcess(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write anywhere; TestValidateRejects covers other users")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	cfg, err := config.Parse("x.conf", strings.NewReader("driftfile "+dir+"/drift"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(cfg); err == nil || !strings.Contains(err.Error(), "x.conf:1: driftfile "+dir+"/drift: the daemon") {
		t.Errorf("validate(driftfile in a 0500 directory) = %v, want an error naming x.conf:1", err)
	}
}

func TestPermits(t *testing.T) {
	id := identity{name: "gpsntp", uid: 100, gid: 200, groups: []int{20, 200}}
	for _, c := range []struct {
		name string
		o    ownership
		want os.FileMode
		ok   bool
	}{
		{"owner rwx", ownership{100, 0, 0o700}, 3, true},
		{"owner without write, others with", ownership{100, 0, 0o577}, 3, false}, // the owner's bits only
		{"primary group", ownership{0, 200, 0o770}, 3, true},
		{"supplementary group", ownership{0, 20, 0o730}, 3, true},
		{"group read-only", ownership{0, 20, 0o750}, 3, false},
		{"group without search, others with", ownership{0, 20, 0o707}, 1, false},
		{"others", ownership{0, 0, 0o703}, 3, true},
		{"others search only", ownership{0, 0, 0o711}, 1, true},
		{"nothing", ownership{0, 0, 0o770}, 1, false},
	} {
		if got := permits(c.o, id, c.want); got != c.ok {
			t.Errorf("%s: permits(%+v, uid 100 gid 200 groups 20, %o) = %v, want %v", c.name, c.o, c.want, got, c.ok)
		}
	}
}

// Devices that may exist only on the machine the daemon runs on are
// warnings, with file:line (or "default" for the default receiver).
func TestValidateWarnings(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      []string
	}{
		{"all present", "gps /dev/null\npps /dev/zero\nconsole /dev/full", nil},
		{"gps missing", "gps /dev/gpsntp-test-missing", []string{
			"x.conf:1: gps /dev/gpsntp-test-missing: does not exist on this machine"}},
		{"pps and console missing", "gps /dev/null\npps /dev/pps-gpsntp-test\nconsole /dev/tty-gpsntp-test baud 9600", []string{
			"x.conf:2: pps /dev/pps-gpsntp-test: does not exist on this machine; until it appears gpsntpd serves GPS (NMEA) time only (pps-gpio: the dtoverlay in config.txt is loaded at boot: reboot after adding it)",
			"x.conf:3: console /dev/tty-gpsntp-test: does not exist on this machine"}},
		{"gpio pps and own terminal", "gps /dev/null\npps gpio 18\nconsole -", nil},
		{"leapfile missing", "gps /dev/null\nleapfile /nonexistent/leap-seconds.list", []string{
			"x.conf:2: leapfile /nonexistent/leap-seconds.list: does not exist on this machine; leap seconds will come from the receiver only"}},
	} {
		cfg, err := config.Parse("x.conf", strings.NewReader(c.src))
		if err != nil {
			t.Fatalf("%s: Parse(%q) = %v", c.name, c.src, err)
		}
		got := validateWarnings(cfg)
		if len(got) != len(c.want) {
			t.Errorf("%s: validateWarnings(%q) = %q, want %d warnings", c.name, c.src, got, len(c.want))
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], c.want[i]) {
				t.Errorf("%s: validateWarnings(%q)[%d] = %q, want starting %q", c.name, c.src, i, got[i], c.want[i])
			}
		}
		if err := validate(cfg); err != nil {
			t.Errorf("%s: validate(%q) = %v: a missing device is a warning, not an error", c.name, c.src, err)
		}
	}
	// The default receiver, when this machine has none.
	if _, err := os.Stat("/dev/serial0"); os.IsNotExist(err) {
		got := validateWarnings(config.Defaults())
		if len(got) != 1 || !strings.HasPrefix(got[0], "(default gps): gps /dev/serial0: does not exist on this machine") {
			t.Errorf("validateWarnings(Defaults()) = %q, want the default gps device named", got)
		}
	}
}

// noDeviceTree makes the checks run as on a machine without a device tree
// (a laptop), whatever this machine is, for the test's duration.
func noDeviceTree(t *testing.T) {
	t.Helper()
	old := deviceTreeDir
	deviceTreeDir = filepath.Join(t.TempDir(), "no-device-tree")
	t.Cleanup(func() { deviceTreeDir = old })
}

// gps and console on one device, where the device depends on the board
// (issue 12: the .deb's example put the console on /dev/ttyAMA0 and the GPS
// on /dev/serial0, which is /dev/ttyAMA0 on a Pi 3/4, and the check said
// ok): refused with the console's file:line, what is expected and what we
// have, on the boards where they collide.
func TestValidateSharedByBoard(t *testing.T) {
	noDeviceTree(t)
	for _, c := range []struct{ name, src, want string }{
		{"serial0 is ttyAMA0 on a Pi 3/4", "gps /dev/serial0 baud 9600\nconsole /dev/ttyAMA0 baud 115200",
			"x.conf:2: console /dev/ttyAMA0: the same device as gps /dev/serial0 (x.conf:1) on pi0-2w, pi3b, pi3b+, pi3a+, pi4b, pi400, cm4 " +
				"(gps /dev/serial0 is /dev/ttyAMA0 there): one device cannot serve both; expected a device of its own (`console auto`: the board's console that does not fight the GPS ("},
		{"serial0 on a named Pi 4", "board pi4b\nconsole /dev/ttyAMA0\ngps /dev/serial0",
			"x.conf:2: console /dev/ttyAMA0: the same device as gps /dev/serial0 (x.conf:3) on pi4b (gps /dev/serial0 is /dev/ttyAMA0 there)"},
		{"serial0 is the debug UART on a Pi 5", "board pi5\ngps /dev/serial0\nconsole auto",
			"x.conf:3: console auto: the same device as gps /dev/serial0 (x.conf:2) on pi5 (gps /dev/serial0 and console auto are both /dev/ttyAMA10 there)"},
		{"gps auto on a named board", "board pi3b\ngps auto\nconsole /dev/ttyAMA0",
			"x.conf:3: console /dev/ttyAMA0: the same device as gps auto (x.conf:2) on pi3b"},
		{"console auto on the debug UART the GPS uses", "board pi5\ngps /dev/ttyAMA10\nconsole auto",
			"x.conf:3: console auto: the same device as gps /dev/ttyAMA10 (x.conf:2) on pi5"},
	} {
		cfg, err := config.Parse("x.conf", strings.NewReader(c.src))
		if err != nil {
			t.Fatalf("%s: Parse(%q) = %v", c.name, c.src, err)
		}
		if err := validateConfig(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: validateConfig(%q) = %v\nwant containing %q", c.name, c.src, err, c.want)
		}
	}
	for _, src := range []string{
		"gps auto\nconsole auto",                            // every board: the table keeps them apart
		"board pi5\ngps /dev/serial0\nconsole /dev/ttyAMA0", // serial0 is ttyAMA10 there
		"board pi3b\ngps auto\nconsole auto",                // no console on a Pi 3: none, no clash
		"gps /dev/ttyAMA0\nconsole /dev/ttyAMA5",
		"gps /dev/ttyUSB0\nconsole /dev/serial0", // serial0 is never a USB adapter
	} {
		cfg, err := config.Parse("x.conf", strings.NewReader(src))
		if err != nil {
			t.Fatalf("Parse(%q) = %v", src, err)
		}
		if err := validateConfig(cfg); err != nil {
			t.Errorf("validateConfig(%q) = %v, want nil", src, err)
		}
	}
}

// The board a device tree says the machine is decides, when the
// configuration says `board auto`: a Pi 5's serial0 is not the GPS UART.
func TestValidateSharedOnDetectedBoard(t *testing.T) {
	old := deviceTreeDir
	t.Cleanup(func() { deviceTreeDir = old })
	deviceTreeDir = t.TempDir()
	os.WriteFile(filepath.Join(deviceTreeDir, "model"), []byte("Raspberry Pi 5 Model B Rev 1.0\x00"), 0o444)
	cfg, _ := config.Parse("x.conf", strings.NewReader("gps /dev/serial0\nconsole /dev/ttyAMA0"))
	if err := validateConfig(cfg); err != nil {
		t.Errorf("on a Pi 5: validateConfig(gps /dev/serial0, console /dev/ttyAMA0) = %v, want nil", err)
	}
	os.WriteFile(filepath.Join(deviceTreeDir, "model"), []byte("Raspberry Pi 4 Model B Rev 1.4\x00"), 0o444)
	if err := validateConfig(cfg); err == nil || !strings.Contains(err.Error(), "x.conf:2: console /dev/ttyAMA0: the same device as gps /dev/serial0 (x.conf:1) on pi4b ") {
		t.Errorf("on a Pi 4: validateConfig(gps /dev/serial0, console /dev/ttyAMA0) = %v, want the clash on pi4b", err)
	}
}

// checkableExample writes examples/gpsntp.conf as it would be on a
// machine set up for it: its driftfile and timefile in a directory of the
// test, and no `user` line (this machine may have no user gpsntp). It
// returns the file's path.
func checkableExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/gpsntp.conf")
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		switch f := strings.Fields(l); {
		case len(f) == 2 && (f[0] == "driftfile" || f[0] == "timefile"):
			l = f[0] + " " + filepath.Join(state, filepath.Base(f[1]))
		case len(f) > 0 && f[0] == "user":
			l = "# " + l
		}
		out = append(out, l)
	}
	p := filepath.Join(t.TempDir(), "gpsntp.conf")
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The example passes validate once its state directory exists; its devices
// are warnings where this machine lacks them.
func TestValidateExample(t *testing.T) {
	p := checkableExample(t)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(cfg); err != nil {
		t.Errorf("validate(examples/gpsntp.conf with a state directory) = %v", err)
	}
	for _, w := range validateWarnings(cfg) {
		if !strings.HasPrefix(w, p+":") || !strings.Contains(w, "does not exist on this machine") {
			t.Errorf("validateWarnings: %q, want file:line and a missing device", w)
		}
	}
}

// validate is validateConfig plus validateStateDirs, each with its own
// findings, so the daemon may log the second at start instead of exiting.
func TestValidateSplit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	cfg, err := config.Parse("x.conf", strings.NewReader("driftfile "+dir+"/drift\nrestrict default kod\n"))
	if err != nil {
		t.Fatal(err)
	}
	conf, state := validateConfig(cfg), validateStateDirs(cfg)
	if conf == nil || !strings.Contains(conf.Error(), "x.conf:2: restrict:") || strings.Contains(conf.Error(), "driftfile") {
		t.Errorf("validateConfig = %v, want the restrict line only", conf)
	}
	if state == nil || !strings.Contains(state.Error(), "x.conf:1: driftfile") || strings.Contains(state.Error(), "restrict") {
		t.Errorf("validateStateDirs = %v, want the driftfile line only", state)
	}
	if all := validate(cfg); all == nil || all.Error() != conf.Error()+"\n"+state.Error() {
		t.Errorf("validate = %v, want both", all)
	}
}

// The daemon's defaults come from the board and HAT it finds itself on
// where the configuration leaves them open (auto, no receiver): the HAT's
// PPS pin and receiver win over the board's, the configuration over both;
// the start line says what was detected and chosen.
func TestProfileFromDeviceTree(t *testing.T) {
	tree := func(model, vendor, product string) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "model"), []byte(model+"\x00"), 0o444)
		if vendor != "" {
			os.Mkdir(filepath.Join(dir, "hat"), 0o755)
			os.WriteFile(filepath.Join(dir, "hat", "vendor"), []byte(vendor+"\x00"), 0o444)
			os.WriteFile(filepath.Join(dir, "hat", "product"), []byte(product+"\x00"), 0o444)
		}
		return dir
	}
	for _, c := range []struct {
		name, dir, src string
		summary        string
		pin            uint32
	}{
		{"Pi 5 with the Uputronics HAT", tree("Raspberry Pi 5 Model B Rev 1.0", "Uputronics", "GPS/RTC HAT"), "gps auto\npps gpio auto\nconsole auto",
			"board Raspberry Pi 5 Model B Rev 1.0, HAT Uputronics GPS/RTC HAT: gps /dev/ttyAMA0, pps gpio 18 on pinctrl-rp1, receiver ublox (HAT), console /dev/ttyAMA10", 18},
		{"Pi 4 with the Adafruit HAT", tree("Raspberry Pi 4 Model B Rev 1.4", "Adafruit Industries", "Ultimate GPS HAT"), "gps auto\npps gpio auto",
			"board Raspberry Pi 4 Model B Rev 1.4, HAT Adafruit Ultimate GPS HAT: gps /dev/ttyAMA0, pps gpio 4 on pinctrl-bcm2711, receiver mtk3339 (HAT)", 4},
		{"the configuration wins", tree("Raspberry Pi 4 Model B Rev 1.4", "Adafruit Industries", "Ultimate GPS HAT"), "gps /dev/ttyUSB0 receiver ublox\npps gpio 17",
			"board Raspberry Pi 4 Model B Rev 1.4, HAT Adafruit Ultimate GPS HAT: gps /dev/ttyUSB0, pps gpio 17 on pinctrl-bcm2711, receiver ublox", 17},
		{"Pi 3 without a HAT EEPROM", tree("Raspberry Pi 3 Model B Plus Rev 1.3", "", ""), "gps auto\npps gpio auto\nconsole auto",
			"board Raspberry Pi 3 Model B Plus Rev 1.3, no HAT EEPROM: gps /dev/ttyAMA0, pps gpio 18 on pinctrl-bcm2835, receiver generic (default), console none (the board has no UART to spare)", 18},
		{"a HAT that is not a GPS", tree("Raspberry Pi 5 Model B Rev 1.0", "Raspberry Pi Ltd", "Raspberry Pi PoE+ HAT"), "pps gpio auto",
			`board Raspberry Pi 5 Model B Rev 1.0, HAT "Raspberry Pi Ltd" "Raspberry Pi PoE+ HAT" (product id , version ) not a known GPS HAT: gps /dev/serial0, pps gpio 18 on pinctrl-rp1, receiver generic (default)`, 18},
		{"no device tree", filepath.Join(t.TempDir(), "none"), "gps auto\npps gpio auto",
			"board none (no device tree), no HAT EEPROM: gps /dev/serial0, pps gpio auto (no board to name the pin), receiver generic (default)", 0},
		{"board named, HAT detected", tree("Raspberry Pi 5 Model B Rev 1.0", "Adafruit Industries", "Ultimate GPS HAT"), "board pi500\npps gpio auto",
			"board Raspberry Pi 500 (configured), HAT Adafruit Ultimate GPS HAT: gps /dev/serial0, pps gpio 4 on pinctrl-rp1, receiver mtk3339 (HAT)", 4},
	} {
		cfg, err := config.Parse("x.conf", strings.NewReader(c.src))
		if err != nil {
			t.Fatal(err)
		}
		hw, err := detectHardware(cfg, c.dir)
		if err != nil {
			t.Errorf("%s: detectHardware = %v", c.name, err)
			continue
		}
		if got := hw.summary(cfg); got != c.summary {
			t.Errorf("%s: summary = %q\nwant %q", c.name, got, c.summary)
		}
		if pin, _ := hw.ppsPin(cfg); pin != c.pin {
			t.Errorf("%s: ppsPin = %d, want %d", c.name, pin, c.pin)
		}
	}
	// console auto on a machine without a device tree: no console.
	if c := resolveConsole(config.Config{Board: "auto"}, config.Console{Device: config.Auto, Baud: 115200}); c.Device != "" && c.Device != "/dev/ttyAMA10" && !strings.HasPrefix(c.Device, "/dev/tty") {
		t.Errorf("resolveConsole(auto) = %+v", c)
	}
	if c := resolveConsole(config.Config{Board: "pi4b"}, config.Console{Device: config.Auto}); c.Device != "/dev/ttyAMA5" {
		t.Errorf("resolveConsole(board pi4b, console auto) = %+v, want /dev/ttyAMA5", c)
	}
	if c := resolveConsole(config.Config{}, config.Console{Device: "-"}); c.Device != "-" {
		t.Errorf("resolveConsole(-) = %+v", c)
	}
	// pps gpio auto without a board: an alarm naming what to write, not an
	// exit (NMEA time is served meanwhile).
	cfg, _ := config.Parse("x.conf", strings.NewReader("pps gpio auto"))
	open, err := ppsOpener(cfg, board.Board{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(); err == nil || !strings.Contains(err.Error(), "pps gpio auto: no board detected to name the pin; write the pin") {
		t.Errorf("ppsOpener(pps gpio auto, no board)() = %v", err)
	}
}

// The front panel may not take the PPS pin, nor the display's I²C pins.
func TestValidateSharedPins(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"pps gpio 18\nled gpio 17\ndisplay ssd1306", ""},
		{"pps gpio 18\nled gpio P1_12", "x.conf:2: led gpio 18: the PPS pin (x.conf:1)"},
		{"pps gpio 4\ndisplay ssd1306\nled gpio GPIO3", "x.conf:3: led gpio 3: I²C bus 1's SCL, which the display (x.conf:2) needs"},
		{"pps gpio P1_3\ndisplay ssd1306", "x.conf:1: pps gpio 2: I²C bus 1's SDA, which the display (x.conf:2) needs"},
		{"pps gpio 2\ndisplay ssd1306 bus 3", ""},
		{"pps gpio auto\nled gpio 18", ""},
	} {
		cfg, err := config.Parse("x.conf", strings.NewReader(c.src))
		if err != nil {
			t.Fatalf("Parse(%q) = %v", c.src, err)
		}
		errs := sharedPins(cfg)
		switch {
		case c.want == "" && len(errs) != 0:
			t.Errorf("sharedPins(%q) = %v, want none", c.src, errs)
		case c.want != "" && (len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), c.want)):
			t.Errorf("sharedPins(%q) = %v, want one starting %q", c.src, errs, c.want)
		}
	}
}
