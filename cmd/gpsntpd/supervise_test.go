package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/gps/sim"
	"github.com/gpsntp/gpsntp/pps"
	"golang.org/x/sys/unix"
)

// simAppliance opens the whole simulated appliance in this process: a
// simulated receiver on a real pty, the real engine and a real NTP server
// on a loopback port, no control socket, no status lines.
func simAppliance(t *testing.T) *appliance {
	t.Helper()
	o := options{sim: true, listen: listFlag{"127.0.0.1:0"}, control: "none", simJitter: time.Microsecond, simSeed: 1, simLeap: "none"}
	a, err := openAppliance(o, config.Defaults(), slog.New(slog.NewTextHandler(testLog{t}, nil)), daemonEnv{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// testLog writes the appliance's log lines to the test's log (shown with
// -v or on failure).
type testLog struct{ t *testing.T }

func (w testLog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// A component that fails, or returns while the daemon runs, or ignores
// the stop: Run returns its error within 2 s, having stopped the others.
// Before the appliance split, run's deferred wg.Wait ran before its
// deferred cancel, and the daemon hung on its first run-time error.
func TestRunStopsOnComponentFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("opens the simulated appliance")
	}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"fails", boom, "worker: boom"},
		{"returns early", nil, "worker: stopped unexpectedly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := simAppliance(t)
			failed := make(chan time.Time, 1)
			a.tasks = append(a.tasks, task{"worker", func(ctx context.Context) error {
				time.Sleep(200 * time.Millisecond)
				failed <- time.Now()
				return tc.err
			}})
			// A component that never looks at its context must not hold
			// up the exit either.
			a.tasks = append(a.tasks, task{"stuck", func(context.Context) error { select {} }})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := a.Run(ctx)
			took := time.Since(<-failed)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error containing %q", err, tc.want)
			}
			if took > 2*time.Second+200*time.Millisecond {
				t.Errorf("Run returned %v after the failure, want within 2 s", took)
			}
		})
	}
}

// A stop signal (ctx done) is a clean stop: nil.
func TestRunCleanStop(t *testing.T) {
	if testing.Short() {
		t.Skip("opens the simulated appliance")
	}
	a := simAppliance(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	if err := a.Run(ctx); err != nil {
		t.Errorf("Run after the stop signal = %v, want nil", err)
	}
}

// runToExit runs the daemon binary with args and waits up to limit for it
// to exit; it returns the exit code (-1: still running, killed), how long
// it ran and its output.
func runToExit(t *testing.T, limit time.Duration, name string, args ...string) (code int, took time.Duration, out string) {
	t.Helper()
	var buf strings.Builder
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return -1, time.Since(start), buf.String()
	}
	return cmd.ProcessState.ExitCode(), time.Since(start), buf.String()
}

// The metrics port is taken: the daemon logs why and exits 1 at once.
// Before the appliance split it logged nothing and ran until SIGTERM.
func TestEndToEndExitsWhenMetricsPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conf := filepath.Join(t.TempDir(), "gpsntp.conf")
	os.WriteFile(conf, []byte("metrics "+ln.Addr().String()+"\n"), 0o644)
	code, took, out := runToExit(t, 20*time.Second, daemonBinary(t), "-sim", "-config", conf, "-control", "none",
		"-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	if code != 1 || !strings.Contains(out, "metrics "+ln.Addr().String()) || !strings.Contains(out, "address already in use") {
		t.Fatalf("exit code %d after %v, want 1 with the metrics address and its error logged; output:\n%s", code, took, tail(out, 20))
	}
	t.Logf("exited %d after %v", code, took)
}

// Dropping privileges is refused (no CAP_SETUID, as under a restrictive
// container or a misconfigured unit): the daemon exits 1 saying so, and
// never serves as root by accident.
func TestEndToEndExitsWhenPrivilegeDropRefused(t *testing.T) {
	needRootAndNobody(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux)")
	}
	t.Parallel()
	slave := simReceiver(t, 0, 1)
	conf := filepath.Join(t.TempDir(), "gpsntp.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("gps %s baud 9600\npps none\nclock soft\nuser nobody\ncontrol none\n", slave)), 0o644)
	// Never CAP_SYS_TIME (the machine's clock), and no CAP_SETUID/SETGID.
	drop := "-sys_time,-setuid,-setgid"
	code, took, out := runToExit(t, 20*time.Second, setpriv, "--bounding-set", drop, "--inh-caps", drop, "--",
		daemonBinary(t), "-config", conf, "-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	if code != 1 || !strings.Contains(out, "drop privileges to nobody") {
		t.Fatalf("exit code %d after %v, want 1 with the refused drop logged; output:\n%s", code, took, tail(out, 20))
	}
	t.Logf("exited %d after %v", code, took)
}

// A PPS device missing at start: the appliance serves NMEA time (refid
// GPS) with an alarm that says what to check, and switches to PPS by
// itself once the device appears. The device is the simulated PPS behind
// the same pps.Reopening the real devices use, its opener failing as
// OpenKernel does until the test "plugs it in".
func TestPPSDeviceAppearsLater(t *testing.T) {
	if testing.Short() {
		t.Skip("opens the simulated appliance")
	}
	t.Parallel()
	a := simAppliance(t)
	var present atomic.Bool
	a.ppsDev = pps.NewReopening(func() (pps.Source, error) {
		if !present.Load() {
			return nil, &os.PathError{Op: "open", Path: "/dev/pps7", Err: syscall.ENOENT}
		}
		return pps.NewSim(a.simTimeline, time.Microsecond, 1), nil
	}, 100*time.Millisecond, 500*time.Millisecond)
	a.ppsSrc.Close()
	a.ppsSrc = a.ppsDev
	a.col.ppsSource = "/dev/pps7"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after the stop", err)
		}
	}()
	addr := a.server.Addrs()[0].String()
	d := &daemon{addr: addr}
	// Generous limits: a loaded CI machine (load 20 was seen) slows the
	// simulated receiver's pty and the servo's view of it.
	took := waitSynced(t, d, "GPS", 120*time.Second)
	snap := a.col.get()
	if len(snap.Alarms) == 0 || !strings.Contains(snap.Alarms[0], "PPS device /dev/pps7 cannot be opened") {
		t.Errorf("alarms while the device is missing = %q, want the missing PPS device named", snap.Alarms)
	}
	t.Logf("serving refid GPS %v after start, alarm %q", took, snap.Alarms)
	present.Store(true)
	// NMEA time is good to milliseconds, under the step threshold: the
	// PPS servo slews the difference away (about 40 s here) rather than
	// step a clock that clients are already using.
	took = waitSynced(t, d, "PPS", 180*time.Second)
	t.Logf("refid PPS %v after the device appeared", took)
	if snap := a.col.get(); len(snap.Alarms) != 0 {
		t.Errorf("alarms once PPS is locked = %q, want none", snap.Alarms)
	}
}

// The real daemon with a PPS source this machine does not have: it used
// to exit 1 at start. It now serves NMEA time (refid GPS) and gpsntpctl
// shows the alarm naming the source.
func TestEndToEndMissingPPSDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	if _, err := os.Stat("/dev/pps7"); err == nil {
		t.Skip("this machine has a /dev/pps7")
	}
	// check is the advice: a dtoverlay makes /dev/ppsN, while the GPIO
	// character device needs none.
	for _, tc := range []struct{ pps, alarm, check string }{
		{"/dev/pps7", "PPS device /dev/pps7 cannot be opened (open /dev/pps7: no such file", "dtoverlay in config.txt"},
		{"gpio 18", "PPS device gpio 18 cannot be opened (pps gpio 18: no board detected", "chip and line number (gpioinfo)"},
		{"gpio 18 chip nosuchchip", "PPS device gpio 18 cannot be opened", "chip and line number (gpioinfo)"},
	} {
		t.Run(tc.pps, func(t *testing.T) {
			t.Parallel()
			slave := simReceiver(t, 0, 5)
			dir := t.TempDir()
			sock := filepath.Join(dir, "ctl.sock")
			conf := filepath.Join(dir, "gpsntp.conf")
			os.WriteFile(conf, []byte(fmt.Sprintf("gps %s baud 9600\npps %s\nclock soft\nnmeadelay %v\ncontrol %s\n", slave, tc.pps, sim.DefaultDelay, sock)), 0o644)
			d := launch(t, []string{"-config", conf, "-status-interval", "0", "-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t))})
			took := waitSynced(t, d, "GPS", 90*time.Second)
			out, err := exec.Command(gpsntpctlBinary(t), "status", "-socket", sock).CombinedOutput()
			flat := strings.Join(strings.Fields(string(out)), " ")
			if err != nil || !strings.Contains(flat, "ALARM: "+tc.alarm) || !strings.Contains(flat, tc.check) {
				t.Fatalf("gpsntpctl status: %v\n%s\nwant an ALARM line %q advising %q", err, out, tc.alarm, tc.check)
			}
			t.Logf("refid GPS after %v; gpsntpctl status:\n%s", took, out)
		})
	}
}

// A second daemon on the address the first serves: it exits 1 saying
// another process has it, and the first goes on serving. (SO_REUSEPORT let
// both bind, and clients got one daemon's time or the other's.)
func TestEndToEndSecondDaemonRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	first := startDaemon(t, "-control", "none", "-status-interval", "0")
	code, took, out := runToExit(t, 20*time.Second, daemonBinary(t), "-sim", "-control", "none", "-listen", first.addr)
	if code != 1 || !strings.Contains(out, "in use by another process") {
		t.Fatalf("second daemon on %s: exit code %d after %v, want 1 with the address clash logged; output:\n%s", first.addr, code, took, tail(out, 20))
	}
	if _, err := ntp.QueryWithOptions(first.addr, ntp.QueryOptions{Timeout: 2 * time.Second}); err != nil {
		t.Errorf("first daemon after the second was refused: %v", err)
	}
	t.Logf("second daemon exited %d after %v: %s", code, took, tail(out, 1))
}

// A console whose terminal stopped taking output (XOFF on a serial line,
// Scroll Lock on tty1): SIGHUP still reloads and SIGTERM still stops the
// daemon with status 0. Before, a console write blocked and stop waited
// for it forever.
func TestEndToEndConsoleOutputStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	term := newTerminal(t)
	slave := term.slave
	conf := filepath.Join(t.TempDir(), "gpsntp.conf")
	os.WriteFile(conf, []byte("console "+slave.Name()+"\n"), 0o644)
	d := startDaemon(t, "-config", conf, "-control", "none")
	deadline := time.Now().Add(20 * time.Second)
	for len(term.drawn()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(term.drawn()) == 0 {
		t.Fatal("the console never drew on the pty")
	}
	// Output stopped at the tty, as XOFF does: every write to it blocks
	// once the line's buffer is full (the daemon redraws each second).
	rc, err := slave.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ierr error
	rc.Control(func(fd uintptr) { ierr = unix.IoctlSetInt(int(fd), unix.TCXONC, unix.TCOOFF) })
	if ierr != nil {
		t.Fatalf("ioctl(TCXONC, TCOOFF): %v", ierr)
	}
	time.Sleep(3 * time.Second)
	d.cmd.Process.Signal(syscall.SIGHUP)
	logged := func(s string) bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return strings.Contains(d.log.String(), s)
	}
	for !logged("config reload") && time.Now().Before(deadline.Add(10*time.Second)) {
		time.Sleep(100 * time.Millisecond)
	}
	if !logged("config reload") {
		t.Error("SIGHUP with the console stopped: no reload logged")
	}
	start := time.Now()
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped %v after SIGTERM with the console's output stopped", time.Since(start))
}

// The boot step is logged with from, to and why (a Pi boots in 1970: the
// first step is the one an operator looks for), and so is each state
// change. Status only counted them before.
func TestEndToEndStepAndStateLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	d := startDaemon(t, "-sim-offset", "2.5s", "-control", "none", "-status-interval", "0")
	stepRE := regexp.MustCompile(`level=WARN msg="clock stepped" step_s=(2\.\d+) from=(\S+) to=(\S+) reason="([^"]+)"`)
	stateRE := regexp.MustCompile(`level=INFO msg="state change" from=unsync to=(gps|pps) reason="([^"]+)"`)
	var step, state []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && (step == nil || state == nil); time.Sleep(200 * time.Millisecond) {
		d.mu.Lock()
		out := d.log.String()
		d.mu.Unlock()
		step, state = stepRE.FindStringSubmatch(out), stateRE.FindStringSubmatch(out)
	}
	if step == nil || state == nil {
		t.Fatalf("want a logged step of about +2.5 s with from, to and reason, and a logged state change with its reason; got step %q, state %q", step, state)
	}
	from, err1 := time.Parse(time.RFC3339Nano, step[2])
	to, err2 := time.Parse(time.RFC3339Nano, step[3])
	if err1 != nil || err2 != nil || to.Sub(from) < 2400*time.Millisecond || to.Sub(from) > 2600*time.Millisecond {
		t.Errorf("step from %s to %s: want times 2.5 s apart", step[2], step[3])
	}
	t.Logf("logged: step %s s (%s → %s): %s; state unsync → %s: %s", step[1], step[2], step[3], step[4], state[1], state[2])
}
