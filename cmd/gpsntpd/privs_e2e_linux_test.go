package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps/sim"
)

// TestEndToEndDropsPrivileges starts the real daemon as root on a real
// receiver device (a root-owned pty the simulated receiver writes into),
// with the soft clock and `user nobody`, and checks in /proc that every
// thread ended up as nobody with only CAP_NET_BIND_SERVICE left, while the
// daemon goes on reading the receiver (opened before the drop) and serving
// synchronised time. (With `clock system`
// the same code also keeps CAP_SYS_TIME; that backend runs only in the VM
// test, never on this machine.)
func TestEndToEndDropsPrivileges(t *testing.T) {
	nobody := needRootAndNobody(t)
	t.Parallel()
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
	d := launch(t, []string{"-config", conf, "-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))})
	took := waitSynced(t, d, "GPS", 60*time.Second)

	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(1) << capNetBindService
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
				t.Errorf("thread %s: %s %s, want %016x (CAP_NET_BIND_SERVICE only)", task.Name(), set, field(st, set), want)
			}
		}
	}
	// Still working as nobody: synchronised replies keep coming.
	time.Sleep(3 * time.Second)
	waitSynced(t, d, "GPS", 5*time.Second)
	if screen := string(term.drawn()); !strings.Contains(screen, "refid GPS") {
		t.Errorf("console on a root-only terminal drew no status screen as nobody:\n%q", tail(screen, 5))
	}
	t.Logf("synchronised (refid GPS) after %v; %d threads, all uid %s with CapEff %016x", took, len(tasks), nobody.Uid, want)
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
