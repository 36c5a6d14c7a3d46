package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpsntp/gpsntp/gps/sim"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// TestEndToEndDropsPrivileges starts the real daemon as root on a real
// receiver device (a root-owned pty the simulated receiver writes into),
// with the soft clock and `user nobody`, and checks in /proc that every
// thread ended up as nobody with only CAP_NET_BIND_SERVICE left (and
// CAP_SYS_NICE where RLIMIT_NICE could not be raised), while the daemon
// goes on reading the receiver (opened before the drop), serving
// synchronised time, and raising a busy worker's thread. (With `clock system`
// the same code also keeps CAP_SYS_TIME; that backend runs only in the VM
// test, never on this machine.)
//
// Again as a root without CAP_SYS_NICE and CAP_SYS_RESOURCE (Docker's
// default set, through setpriv): the daemon must still start and serve,
// keep no capability it did not have, and say that its workers stay at
// their priority.
func TestEndToEndDropsPrivileges(t *testing.T) {
	nobody := needRootAndNobody(t)
	t.Parallel()
	eff, err := ownEffectiveCaps()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("root", func(t *testing.T) {
		t.Parallel()
		dropsPrivileges(t, nobody, nil, eff&(1<<capSysNice) != 0)
	})
	t.Run("without CAP_SYS_NICE", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("setpriv"); err != nil {
			t.Fatalf("setpriv (util-linux) is needed: %v", err)
		}
		dropsPrivileges(t, nobody, []string{"setpriv", "--bounding-set", "-sys_nice,-sys_resource",
			"--inh-caps", "-sys_nice,-sys_resource", "--"}, false)
	})
}

// dropsPrivileges runs TestEndToEndDropsPrivileges's checks on the daemon
// started through prefix (nil: directly), with CAP_SYS_NICE or not.
func dropsPrivileges(t *testing.T, nobody *user.User, prefix []string, sysNice bool) {
	slave := simReceiver(t, 250e6, 3)
	// The receiver's device stays root's, mode 0620: the daemon opens it
	// before it drops privileges.
	if fi, err := os.Stat(slave); err != nil || fi.Mode().Perm()&0o006 != 0 {
		t.Fatalf("pty %s: %v, mode %v: want one nobody cannot open", slave, err, fi.Mode())
	}
	// So is the console's terminal, 0600: opened before the drop too (the
	// VM test found it opened after, as nobody: permission denied).
	term := newTerminal(t)
	if err := os.Chmod(term.slave.Name(), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "gpsntp.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("gps %s baud 9600\npps none\nclock soft\nnmeadelay %v\nuser nobody\ncontrol none\nconsole %s\n",
		slave, sim.DefaultDelay, term.slave.Name())), 0o644)
	d := launchVia(t, prefix, []string{"-config", conf, "-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))})
	took := waitSynced(t, d, "GPS", 60*time.Second)

	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(1) << capNetBindService
	// The busy workers' priority: RLIMIT_NICE raised before the drop, or,
	// where root has no CAP_SYS_RESOURCE to raise it (this project's
	// build machine), CAP_SYS_NICE kept instead, if root had it.
	canRaise := true
	if lim := niceLimit(t, d.cmd.Process.Pid); lim < 20-ntpserve.DefaultBusyNice {
		if sysNice {
			t.Logf("RLIMIT_NICE %d (not raised): CAP_SYS_NICE must be kept", lim)
			want |= 1 << capSysNice
		} else {
			canRaise = false
		}
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", d.cmd.Process.Pid, task.Name()))
		if err != nil {
			continue // the thread exited
		}
		st := string(b)
		if uid := field(st, "Uid:"); uid != strings.Repeat(nobody.Uid+" ", 4)[:len(nobody.Uid)*4+3] {
			t.Errorf("thread %s: Uid %q, want %s (real, effective, saved, fs)", task.Name(), uid, nobody.Uid)
		}
		for _, set := range []string{"CapEff:", "CapPrm:"} {
			v, err := strconv.ParseUint(field(st, set), 16, 64)
			if err != nil || v != want {
				t.Errorf("thread %s: %s %s, want %016x", task.Name(), set, field(st, set), want)
			}
		}
	}
	// Still working as nobody: synchronised replies keep coming.
	time.Sleep(3 * time.Second)
	waitSynced(t, d, "GPS", 5*time.Second)
	// And a busy worker still raises its thread (ntpserve's
	// priority_linux.go) as nobody, if anything allows it.
	err = busyUntilRaised(d, 5*time.Second)
	switch {
	case canRaise && err != nil:
		t.Error(err)
	case !canRaise && err == nil:
		t.Error("a worker's thread was raised with neither CAP_SYS_NICE nor RLIMIT_NICE")
	case !canRaise && !strings.Contains(err.Error(), "no thread at nice"):
		t.Errorf("serving under load at normal priority: %v", err)
	case !canRaise:
		// At the drop, and when a worker was refused under load (within
		// the loop's second).
		time.Sleep(1500 * time.Millisecond)
		d.mu.Lock()
		log := d.log.String()
		d.mu.Unlock()
		for _, want := range []string{"will not raise their priority", "busy NTP workers could not raise their priority"} {
			if !strings.Contains(log, want) {
				t.Errorf("no log line %q", want)
			}
		}
	}
	if screen := string(term.drawn()); !strings.Contains(screen, "refid GPS") {
		t.Errorf("console on a root-only terminal drew no status screen as nobody:\n%q", tail(screen, 5))
	}
	t.Logf("synchronised (refid GPS) after %v; %d threads, all uid %s with CapEff %016x", took, len(tasks), nobody.Uid, want)
}

// busyUntilRaised sends d queries as fast as it answers them until one of
// its threads runs SCHED_BATCH at ntpserve.DefaultBusyNice, or for at most
// wait.
func busyUntilRaised(d *daemon, wait time.Duration) error {
	c, err := net.Dial("udp", d.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	req := make([]byte, ntpserve.HeaderLen)
	req[0] = 4<<3 | ntpserve.ModeClient
	reply := make([]byte, 2*ntpserve.HeaderLen)
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
		// 16 in flight at a time: well above the 10,000/s a worker
		// raises its thread from even on a slow machine.
		for range 20 {
			c.SetDeadline(time.Now().Add(time.Second))
			for range 16 {
				if _, err := c.Write(req); err != nil {
					return err
				}
			}
			for range 16 {
				if _, err := c.Read(reply); err != nil {
					return fmt.Errorf("busy worker: %w", err)
				}
			}
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", d.cmd.Process.Pid))
		for _, p := range tasks {
			b, err := os.ReadFile(p)
			if err != nil {
				continue // the thread exited
			}
			// proc(5): fields 19 (nice) and 41 (policy), counted after the
			// parenthesised name, which is field 2.
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			if len(f) > 38 && f[19-3] == strconv.Itoa(ntpserve.DefaultBusyNice) && f[41-3] == strconv.Itoa(unix.SCHED_BATCH) {
				return nil
			}
		}
	}
	return fmt.Errorf("no thread at nice %d, SCHED_BATCH, after %v of back-to-back queries", ntpserve.DefaultBusyNice, wait)
}

// niceLimit is pid's RLIMIT_NICE (soft), from /proc/PID/limits.
func niceLimit(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Max nice priority"); ok {
			if n, err := strconv.Atoi(strings.Fields(v)[0]); err == nil {
				return n
			}
		}
	}
	t.Fatalf("/proc/%d/limits: no Max nice priority line", pid)
	return 0
}

// field returns the whitespace-normalised value of a /proc status line.
func field(status, name string) string {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, name); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}
