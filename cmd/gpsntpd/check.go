package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/config"
)

// validate is everything -check-config refuses: validateConfig and
// validateStateDirs. Errors name file:line where the directive has one.
//
// What may well be right on the machine the daemon runs on but is not
// here (a device not plugged in) is for validateWarnings.
func validate(cfg config.Config) error {
	return errors.Join(validateConfig(cfg), validateStateDirs(cfg))
}

// validateConfig checks what the parser leaves to the daemon's packages
// and what would stop the daemon at start: restrict and discard lines
// (ntpserve/restrict), board and receiver names, the `user` (it must
// exist for the privilege drop), devices named twice (gps and console on
// one terminal), driftfile and timefile naming one file.
func validateConfig(cfg config.Config) error {
	var errs []error
	if _, _, err := accessRules(cfg); err != nil {
		errs = append(errs, err)
	}
	if cfg.Board != "auto" {
		if _, ok := board.ByName(cfg.Board); !ok {
			errs = append(errs, fmt.Errorf("%s: board %s: unknown board (known: auto, %s)", cfg.Pos["board"], cfg.Board, boardNames()))
		}
	}
	if r := cfg.GPS.Receiver; r != "" {
		if _, ok := board.ReceiverByName(r); !ok {
			errs = append(errs, fmt.Errorf("%s: gps: unknown receiver %q (known: %s)", cfg.Pos["gps"], r, receiverNames()))
		}
	}
	if _, err := configuredUser(cfg); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", cfg.Pos["user"], err))
	}
	if cfg.DriftFile != "" && cfg.TimeFile != "" && filepath.Clean(cfg.DriftFile) == filepath.Clean(cfg.TimeFile) {
		errs = append(errs, fmt.Errorf("%s: timefile %s: the same file as the driftfile (%s): each rewrite would replace the other; name two files",
			cfg.Pos["timefile"], cfg.TimeFile, cfg.Pos["driftfile"]))
	}
	errs = append(errs, sharedDevices(cfg)...)
	errs = append(errs, sharedPins(cfg)...)
	return errors.Join(errs...)
}

// sharedPins refuses a front panel on the PPS pin: an LED driven on the
// PPS line would stamp its own blinks as pulses; and a display needs the
// I²C pins GPIO 2 and 3 (bus 1). Pins given as `auto` are not known here.
func sharedPins(cfg config.Config) []error {
	var errs []error
	ppsPin := -1
	if cfg.PPS.Kind == config.PPSGPIO && cfg.PPS.Pin != config.PinAuto {
		ppsPin = cfg.PPS.Pin
	}
	if cfg.LED.Kind == config.LEDGPIO && cfg.LED.Pin == ppsPin {
		errs = append(errs, fmt.Errorf("%s: led gpio %d: the PPS pin (%s): choose a free GPIO for the LED, e.g. 17 (header pin 11)", cfg.Pos["led"], cfg.LED.Pin, cfg.Pos["pps"]))
	}
	if cfg.Display.Model != "" && cfg.Display.Bus == 1 {
		for _, p := range []struct {
			what string
			pin  int
			pos  string
		}{{"pps gpio", ppsPin, cfg.Pos["pps"]}, {"led gpio", ledPin(cfg), cfg.Pos["led"]}} {
			if p.pin == 2 || p.pin == 3 {
				errs = append(errs, fmt.Errorf("%s: %s %d: I²C bus 1's %s, which the display (%s) needs: choose another GPIO", p.pos, p.what, p.pin, map[int]string{2: "SDA", 3: "SCL"}[p.pin], cfg.Pos["display"]))
			}
		}
	}
	return errs
}

// ledPin is the LED's GPIO line, -1 when it has none.
func ledPin(cfg config.Config) int {
	if cfg.LED.Kind == config.LEDGPIO {
		return cfg.LED.Pin
	}
	return -1
}

// validateStateDirs checks that the directories of the driftfile and the
// timefile exist and that the daemon's user (the configured `user` after
// the privilege drop, else this process) may create files there: the
// files are rewritten through a temporary file and a rename, and a failure
// would otherwise surface only at the first hourly write. The daemon
// serves without them, so at start a caller may log these instead.
func validateStateDirs(cfg config.Config) error {
	id, err := configuredUser(cfg)
	who := whoName(cfg, id)
	var errs []error
	for _, f := range stateFiles(cfg) {
		// An unknown user's permissions are unknown (validateConfig says
		// so): existence only.
		if err := checkStateDir(f, id, who, err == nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validateWarnings lists, as "file:line: …" lines, what is wrong on this
// machine but may be right where the daemon runs (the check may run on
// another machine): the receiver's, the kernel PPS and the console devices
// and the leap file do not exist. The daemon copes with each at run time
// (it retries the devices; without a leap file the receiver announces leap
// seconds), so they are not errors.
func validateWarnings(cfg config.Config) []string {
	var w []string
	missing := func(what, path, pos, meanwhile string) {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			w = append(w, fmt.Sprintf("%s: %s %s: does not exist on this machine; %s", pos, what, path, meanwhile))
		}
	}
	hw, _ := detectHardware(cfg, deviceTreeDir)
	known := hw.board.Name != ""
	if cfg.GPS.Device != config.Auto || known {
		missing("gps", hw.gpsDevice(cfg), posOr(cfg, "gps", "(default gps)"), "gpsntpd serves nothing as synchronised until it appears")
	}
	if cfg.PPS.Kind == config.PPSKernel {
		missing("pps", cfg.PPS.Device, cfg.Pos["pps"], "until it appears gpsntpd serves GPS (NMEA) time only (pps-gpio: the dtoverlay in config.txt is loaded at boot: reboot after adding it)")
	}
	switch d := hw.console(cfg.Console).Device; {
	case cfg.Console.Device == config.Auto && known && d == "":
		w = append(w, fmt.Sprintf("%s: console auto: the %s has no console to spare: %s", cfg.Pos["console"], hw.board.Title, hw.board.ConsoleNote))
	case cfg.Console.Device == config.Auto && known && hw.board.ConsoleNeeds != "":
		w = append(w, fmt.Sprintf("%s: console auto: %s on the %s needs %s", cfg.Pos["console"], d, hw.board.Title, hw.board.ConsoleNeeds))
		missing("console", d, cfg.Pos["console"], "no status screen until it appears")
	case d != "" && d != "-" && d != config.Auto:
		missing("console", d, cfg.Pos["console"], "no status screen until it appears")
	}
	if cfg.LeapFile != "" {
		missing("leapfile", cfg.LeapFile, cfg.Pos["leapfile"], "leap seconds will come from the receiver only (u-blox UBX-NAV-TIMELS)")
	}
	return w
}

// posOr is the directive's file:line, or what to call it when the value is
// the default.
func posOr(cfg config.Config, directive, dflt string) string {
	if p := cfg.Pos[directive]; p != "" {
		return p
	}
	return dflt
}

// stateFile is a file the daemon rewrites through a temporary file in
// the same directory and a rename (discipline.WriteDrift, writeTimeFile).
type stateFile struct {
	directive, path, pos, what string
}

func stateFiles(cfg config.Config) []stateFile {
	var fs []stateFile
	if cfg.DriftFile != "" {
		fs = append(fs, stateFile{"driftfile", cfg.DriftFile, cfg.Pos["driftfile"], "the frequency correction would never be saved"})
	}
	if cfg.TimeFile != "" {
		fs = append(fs, stateFile{"timefile", cfg.TimeFile, cfg.Pos["timefile"], "the last known time would never be saved"})
	}
	return fs
}

// identity is who the daemon is when it writes its state files: the
// configured `user` after the privilege drop. nil: this process.
type identity struct {
	name     string
	uid, gid int
	groups   []int
}

// checkStateDir: the directory of f exists and, if perms, id (nil: this
// process) may create files in it. who names id in messages.
func checkStateDir(f stateFile, id *identity, who string, perms bool) error {
	prefix := fmt.Sprintf("%s: %s %s", f.pos, f.directive, f.path)
	dir := filepath.Dir(f.path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: directory %s does not exist: create it, writable by %s (%s)", prefix, dir, who, f.what)
	case err != nil:
		return fmt.Errorf("%s: %w", prefix, err)
	case !st.IsDir():
		return fmt.Errorf("%s: %s is not a directory", prefix, dir)
	}
	if !perms {
		return nil
	}
	if err := mayCreateIn(dir, id); err != nil {
		return fmt.Errorf("%s: %s cannot create files in %s: %v (%s)", prefix, who, dir, err, f.what)
	}
	return nil
}

// whoName names who writes the state files, for messages.
func whoName(cfg config.Config, id *identity) string {
	if id == nil {
		if cfg.User != "" && cfg.User != "root" && cfg.User != "0" {
			return "user " + cfg.User
		}
		return fmt.Sprintf("the daemon (uid %d, as this check runs)", os.Geteuid())
	}
	if strings.HasPrefix(id.name, "uid ") {
		return id.name // a numeric `user` without a passwd entry
	}
	return fmt.Sprintf("user %s (uid %d)", id.name, id.uid)
}

// ownership is what the permission check needs of a directory.
type ownership struct {
	uid, gid int
	perm     fs.FileMode
}

// permits says whether id has all of want (bits of 07: 4 read, 2 write,
// 1 search) on a file owned as o, by the classic Unix rule: the owner's
// bits if id owns it, else the group's if id is in its group, else the
// others'. Root's override and ACLs are the caller's business.
func permits(o ownership, id identity, want fs.FileMode) bool {
	shift := 0
	switch {
	case o.uid == id.uid:
		shift = 6
	case o.gid == id.gid || containsInt(id.groups, o.gid):
		shift = 3
	}
	return (o.perm>>shift)&want == want
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// deviceTreeDir is where -check-config looks for the machine it runs on
// (tests point it at a tree of their own).
var deviceTreeDir = board.DeviceTreeDir

// checkBoards are the boards a configuration is checked for where a
// device depends on the board (`gps auto`, `console auto`, /dev/serial0):
// the one `board NAME` names, else the one this machine is, else every
// supported board (the check may run on a laptop).
func checkBoards(cfg config.Config) []board.Board {
	if hw, err := detectHardware(cfg, deviceTreeDir); err == nil && hw.board.Name != "" {
		return []board.Board{hw.board}
	}
	return board.Boards()
}

// deviceUse is one directive's device, as written.
type deviceUse struct{ directive, path, pos string }

// on is the device u names on board b: auto resolved, /dev/serial0 as
// udev links it there once the board's config.txt lines are applied. ""
// for `console auto` on a board without a console to spare.
func (u deviceUse) on(b board.Board) string {
	p := u.path
	if p == config.Auto {
		if u.directive == "gps" {
			p = hardware{board: b}.gpsDevice(config.Config{GPS: config.GPS{Device: config.Auto}})
		} else {
			p = b.Console
		}
	}
	if filepath.Clean(p) == "/dev/serial0" && b.Serial0 != "" {
		p = b.Serial0
	}
	return p
}

// sharedDevices finds one device given to two users: gps and console on
// one terminal would each read the other's bytes, and the kernel PPS
// device is neither a terminal nor shareable with them. Devices that
// depend on the board (auto, /dev/serial0) are compared on each board the
// configuration may run on (checkBoards), and the error names the boards.
func sharedDevices(cfg config.Config) []error {
	uses := []deviceUse{{"gps", cfg.GPS.Device, posOr(cfg, "gps", "")}}
	if d := cfg.Console.Device; d != "" && d != "-" && d != "none" {
		uses = append(uses, deviceUse{"console", d, cfg.Pos["console"]})
	}
	if cfg.PPS.Kind == config.PPSKernel {
		uses = append(uses, deviceUse{"pps", cfg.PPS.Device, cfg.Pos["pps"]})
	}
	// The error goes to the console's line, else the later one, naming
	// the other.
	slices.SortStableFunc(uses, func(a, b deviceUse) int { return lineOf(a.pos) - lineOf(b.pos) })
	boards := checkBoards(cfg)
	var errs []error
	for i, a := range uses {
		for _, b := range uses[i+1:] {
			if a.directive == "console" {
				// The console is what moves: its line gets the error.
				a, b = b, a
			}
			first := a.pos
			if first == "" {
				first = "the default"
			}
			if a.path != config.Auto && b.path != config.Auto && samePath(a.path, b.path) {
				errs = append(errs, fmt.Errorf("%s: %s %s: the same device as %s %s (%s): one device cannot serve both",
					b.pos, b.directive, b.path, a.directive, a.path, first))
				continue
			}
			var where []string
			var how string
			for _, bd := range boards {
				pa, pb := a.on(bd), b.on(bd)
				if pa == "" || pb == "" || !samePath(pa, pb) {
					continue
				}
				where = append(where, bd.Name)
				how = fmt.Sprintf("%s %s is %s there", a.directive, a.path, pa)
				if b.path != pb {
					how = fmt.Sprintf("%s %s and %s %s are both %s there", a.directive, a.path, b.directive, b.path, pa)
				}
			}
			if len(where) == 0 {
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %s %s: the same device as %s %s (%s) on %s (%s): one device cannot serve both; expected a device of its own (%s)",
				b.pos, b.directive, b.path, a.directive, a.path, first, strings.Join(where, ", "), how, ownDevice(b, boards, cfg.Board)))
		}
	}
	return errs
}

// ownDevice says what to write instead of u's device.
func ownDevice(u deviceUse, boards []board.Board, named string) string {
	hint := ""
	if named == "auto" && len(boards) > 1 {
		hint = "; or name the board (`board NAME`) if it is one where they differ"
	}
	switch u.directive {
	case "console":
		var cs []string
		for _, b := range boards {
			if b.Console != "" && !slices.Contains(cs, b.Console) {
				cs = append(cs, b.Console)
			}
		}
		if len(cs) == 0 {
			return "this board has no UART to spare: a USB serial adapter (/dev/ttyUSB0) or HDMI (/dev/tty1)" + hint
		}
		return "`console auto`: the board's console that does not fight the GPS (" + strings.Join(cs, ", ") + ")" + hint
	case "gps":
		return "`gps auto`: the header UART, /dev/ttyAMA0" + hint
	}
	return "a device of its own" + hint
}

// lineOf is the line number of a "file:line" position, 0 for none.
func lineOf(pos string) int {
	n, _ := strconv.Atoi(pos[strings.LastIndexByte(pos, ':')+1:])
	return n
}

// samePath: a and b name the same file, lexically or once symlinks (udev's
// /dev/serial0, /dev/serial/by-id/…) are resolved.
func samePath(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	return errA == nil && errB == nil && ra == rb
}

func receiverNames() string {
	var n []string
	for _, r := range board.Receivers() {
		n = append(n, r.Name)
	}
	return strings.Join(n, ", ")
}
