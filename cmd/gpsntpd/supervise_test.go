package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/gps/sim"
)

// simAppliance opens the whole simulated appliance in this process: a
// simulated receiver on a real pty, the real engine and a real NTP server
// on a loopback port, no control socket, no status lines.
func simAppliance(t *testing.T) *appliance {
	t.Helper()
	o := options{sim: true, listen: listFlag{"127.0.0.1:0"}, control: "none", simJitter: time.Microsecond, simSeed: 1, simLeap: "none"}
	a, err := openAppliance(o, config.Defaults(), slog.New(slog.NewTextHandler(io.Discard, nil)), daemonEnv{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
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
	if testing.Short() {
		t.Skip("end to end")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: the daemon drops privileges only when started as root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux)")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	t.Parallel()
	master, slave, err := sim.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
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
