package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/ntpserve"
	"golang.org/x/sys/unix"
)

// Capabilities the daemon keeps after dropping root (capability(7) bits).
const (
	capSysTime         = unix.CAP_SYS_TIME         // clock_adjtime on CLOCK_REALTIME
	capNetBindService  = unix.CAP_NET_BIND_SERVICE // rebinding port 123
	capSysNice         = unix.CAP_SYS_NICE         // busy NTP workers' priority, when RLIMIT_NICE can not be raised
	defaultServiceUser = "gpsntp"
)

// capMask is the bit set of caps, split into the two 32-bit words of
// capset(2)'s version 3 data.
func capMask(caps ...int) (lo, hi uint32) {
	for _, c := range caps {
		if c < 32 {
			lo |= 1 << uint(c)
		} else {
			hi |= 1 << uint(c-32)
		}
	}
	return lo, hi
}

// effectiveCaps parses CapEff from a /proc/PID/status.
func effectiveCaps(status io.Reader) (uint64, error) {
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff line")
}

// ownEffectiveCaps is this process's effective capability set.
func ownEffectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	eff, err := effectiveCaps(f)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/status: %w", err)
	}
	return eff, nil
}

// checkClockCapability refuses the System clock backend without
// CAP_SYS_TIME, before anything is opened, with a message that says what
// to do.
func checkClockCapability() error {
	eff, err := ownEffectiveCaps()
	if err != nil {
		return fmt.Errorf("clock system: cannot check capabilities: %w", err)
	}
	if eff&(1<<capSysTime) == 0 {
		return errors.New("clock system: gpsntpd needs CAP_SYS_TIME to steer the system clock: " +
			"start it as root (it drops to the `user` of the configuration, keeping only that capability), " +
			"grant it (systemd AmbientCapabilities=CAP_SYS_TIME, or setcap cap_sys_time+ep), " +
			"or use `clock soft` to serve time without steering the kernel clock")
	}
	return nil
}

// target is who to become.
type target struct {
	name     string
	uid, gid int
	groups   []int
}

// lookupTarget resolves the `user` directive (default gpsntp). ok is false
// when the default user does not exist (stay root, with a warning); a
// configured user that does not exist is an error, unless it is a numeric
// uid.
func lookupTarget(name string) (t target, ok bool, err error) {
	configured := name != ""
	if !configured {
		name = defaultServiceUser
	}
	u, err := user.Lookup(name)
	if err != nil {
		if u2, err2 := user.LookupId(name); err2 == nil {
			u, err = u2, nil
		}
	}
	if err != nil {
		if n, nerr := strconv.Atoi(name); configured && nerr == nil && n > 0 {
			// A numeric uid with no passwd entry (gokrazy has no
			// /etc/passwd): that uid, and the same number as group.
			return target{name: "uid " + name, uid: n, gid: n}, true, nil
		}
		if configured {
			return t, false, fmt.Errorf("user %s: %w", name, err)
		}
		return t, false, nil
	}
	t.name = u.Username
	if t.uid, err = strconv.Atoi(u.Uid); err != nil {
		return t, false, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	if t.gid, err = strconv.Atoi(u.Gid); err != nil {
		return t, false, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	gids, _ := u.GroupIds() // dialout, gpio: to reopen the devices after a loss
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil {
			t.groups = append(t.groups, n)
		}
	}
	return t, true, nil
}

// controlGroup is the group given the control socket, and the directory
// made for it, so that gpsntpctl works for its members: the configured
// user's group when running as root and dropping to it; -1 (leave it)
// otherwise.
func controlGroup(cfg config.Config, sim bool) int {
	if os.Geteuid() != 0 || sim {
		return -1
	}
	t, ok, err := lookupTarget(cfg.User)
	if err != nil || !ok || t.uid == 0 {
		return -1
	}
	return t.gid
}

// dropPrivileges: started as root with the System clock, become the
// configured user (default gpsntp) keeping CAP_SYS_TIME and
// CAP_NET_BIND_SERVICE, with RLIMIT_NICE raised for the busy NTP workers
// (allowBusyNice; CAP_SYS_NICE kept instead where it can not be raised).
// The NTP sockets, the PPS device and the control socket are open by now;
// the receiver's serial device is opened (and reopened after a loss) as
// the user, which needs its group (dialout on Raspberry Pi OS). Not root,
// or a simulation: nothing to do. The control socket was created for the
// user's group (controlGroup).
func dropPrivileges(cfg config.Config, sim bool, log *slog.Logger) error {
	if os.Geteuid() != 0 || sim {
		return nil
	}
	t, ok, err := lookupTarget(cfg.User)
	if err != nil {
		return err
	}
	if !ok {
		log.Warn("running as root: no `user` configured and no user gpsntp exists (useradd --system gpsntp)")
		return nil
	}
	if t.uid == 0 {
		return nil
	}
	keep := []int{capNetBindService}
	if cfg.Clock == config.ClockSystem {
		keep = append(keep, capSysTime)
	}
	if err := allowBusyNice(); err != nil {
		// No CAP_SYS_RESOURCE to raise the limit (a container may hold
		// root without it): keep the capability the limit stands for, if
		// root has that.
		if eff, cerr := ownEffectiveCaps(); cerr == nil && eff&(1<<capSysNice) != 0 {
			log.Info("keeping CAP_SYS_NICE for the busy NTP workers' priority", "reason", err)
			keep = append(keep, capSysNice)
		} else {
			log.Warn("the NTP workers will not raise their priority under load "+
				"(ntpserve.Stats busy_nice_refused)", "reason", err)
		}
	}
	if err := becomeUser(t, keep); err != nil {
		return fmt.Errorf("drop privileges to %s: %w", t.name, err)
	}
	log.Info("dropped privileges", "user", t.name, "uid", t.uid, "gid", t.gid, "kept", capNames(keep))
	return nil
}

// allowBusyNice raises RLIMIT_NICE so that the NTP workers' threads may
// still take ntpserve.DefaultBusyNice once root is gone: an rlimit rather
// than CAP_SYS_NICE, which would let the daemon raise any thread to any
// priority. The limit counts 20 − nice (setrlimit(2)).
func allowBusyNice() error {
	want := uint64(20 - ntpserve.DefaultBusyNice)
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NICE, &r); err != nil {
		return fmt.Errorf("getrlimit(RLIMIT_NICE): %w", err)
	}
	if r.Cur >= want {
		return nil
	}
	r.Cur, r.Max = want, max(r.Max, want)
	if err := unix.Setrlimit(unix.RLIMIT_NICE, &r); err != nil {
		return fmt.Errorf("setrlimit(RLIMIT_NICE): %w", err)
	}
	return nil
}

func capNames(caps []int) string {
	var n []string
	for _, c := range caps {
		switch c {
		case capSysTime:
			n = append(n, "CAP_SYS_TIME")
		case capNetBindService:
			n = append(n, "CAP_NET_BIND_SERVICE")
		case capSysNice:
			n = append(n, "CAP_SYS_NICE")
		}
	}
	return strings.Join(n, ",")
}

// becomeUser switches every thread of the process to t keeping only caps:
// prctl(PR_SET_KEEPCAPS) so the permitted set survives setresuid, the
// group and user ids (syscall's Set* apply to all threads, Go ≥ 1.16),
// then capset(2) on every thread to make exactly caps permitted and
// effective. Without cgo only: AllThreadsSyscall is refused in cgo builds,
// and a thread left with other capabilities is not acceptable.
func becomeUser(t target, caps []int) error {
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); e != 0 {
		if e == syscall.ENOTSUP {
			return errors.New("this gpsntpd was built with cgo, where Go cannot change every thread's " +
				"capabilities (syscall.AllThreadsSyscall): build it with CGO_ENABLED=0 (make build, the .deb " +
				"and the image do), or start it as the user with CAP_SYS_TIME granted (systemd AmbientCapabilities)")
		}
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", e)
	}
	groups := t.groups
	if len(groups) == 0 {
		groups = []int{t.gid}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(t.gid, t.gid, t.gid); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := syscall.Setresuid(t.uid, t.uid, t.uid); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	lo, hi := capMask(caps...)
	// Heap-allocated (Go's heap does not move) and kept alive across the
	// call: AllThreadsSyscall takes plain uintptrs.
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := &[2]unix.CapUserData{{Effective: lo, Permitted: lo}, {Effective: hi, Permitted: hi}}
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(hdr)
	runtime.KeepAlive(data)
	if e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS, 0): %w", e)
	}
	return nil
}
