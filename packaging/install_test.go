//go:build linux

package packaging

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/ntp"

	"github.com/gpsntp/gpsntp/gps/sim"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/internal/simtime"
)

// throwawayRoot is a copy of this machine's root to install into: an
// overlayfs over / whose upper layer is a tmpfs, in private mount, network
// and PID namespaces. Nothing reaches the real /etc, /usr or /run, systemd
// is not running there (no /run/systemd/system: the maintainer scripts
// leave systemctl alone), the network is its own loopback, and every
// process in it lacks CAP_SYS_TIME (bounding set), so no clock can be set
// from it. When the holder process dies, the namespaces and every process
// in them go with it.
type throwawayRoot struct {
	t      *testing.T
	holder *exec.Cmd
	nsPID  int    // the PID namespace's init, as this machine sees it
	merged string // the overlay's mount point (visible inside only)
	share  string // a directory of ours, at /tmp/share inside
}

// noClock is prefixed to every command that enters the namespaces.
var noClock = []string{"setpriv", "--bounding-set", "-sys_time", "--inh-caps", "-sys_time"}

// holderScript builds the root and waits. The upper layer is on a tmpfs of
// its own (an upper directory inside the lower layer / would overlap it).
// /dev is this machine's (ptys for the simulated GPS); /run and /tmp are
// empty, as after a boot.
const holderScript = `
W=$1
M=$W/merged
mkdir -p "$W/layers" "$M" "$W/share"
mount -t tmpfs -o mode=0755 tmpfs "$W/layers"
mkdir "$W/layers/upper" "$W/layers/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/layers/upper,workdir=$W/layers/work" "$M"
mount -t proc proc "$M/proc"
mount --rbind /dev "$M/dev"
mount -t tmpfs -o mode=0755 tmpfs "$M/run"
mount -t tmpfs -o mode=1777 tmpfs "$M/tmp"
mkdir "$M/tmp/share"
mount --bind "$W/share" "$M/tmp/share"
ip link set lo up
echo ready
exec sleep 100000
`

func newThrowawayRoot(t *testing.T) *throwawayRoot {
	t.Helper()
	work := t.TempDir()
	args := append(noClock[1:len(noClock):len(noClock)], "unshare", "--mount", "--net", "--pid", "--fork", "--kill-child",
		"--propagation", "private", "sh", "-euc", holderScript, "holder", work)
	cmd := exec.Command(noClock[0], args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start unshare: %v", err)
	}
	r := &throwawayRoot{t: t, holder: cmd, merged: filepath.Join(work, "merged"), share: filepath.Join(work, "share")}
	t.Cleanup(func() {
		// unshare --kill-child takes the namespace's init, and so every
		// process in it, along.
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Skipf("cannot make a throwaway root (overlayfs over / in a private mount namespace): %s", stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("throwaway root not ready after 2 min; stderr: %s", stderr.String())
	}
	if r.nsPID = childOf(cmd.Process.Pid); r.nsPID == 0 {
		t.Fatalf("unshare (pid %d) has no child", cmd.Process.Pid)
	}
	return r
}

// childOf is the PID of a child of process pid (unshare's only child is
// the namespace's init), from /proc/*/stat; 0: none.
func childOf(pid int) int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			return n
		}
	}
	return 0
}

// command is name with args run inside the root (chroot), with env and a
// clean PATH.
func (r *throwawayRoot) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	a := append(noClock[1:len(noClock):len(noClock)], "nsenter", "--target", strconv.Itoa(r.nsPID), "--mount", "--net", "--pid",
		"--", "chroot", r.merged, name)
	cmd := exec.CommandContext(ctx, noClock[0], append(a, args...)...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C.UTF-8"}, env...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// sh runs script inside the root and returns its output and exit status.
func (r *throwawayRoot) sh(env []string, script string) (string, int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := r.command(ctx, env, "sh", "-c", script).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		r.t.Fatalf("in the throwaway root: sh -c %q: %v\n%s", script, err, out)
	}
	return string(out), 0
}

// must is sh that fails the test on a non-zero exit.
func (r *throwawayRoot) must(env []string, script string) string {
	r.t.Helper()
	out, code := r.sh(env, script)
	if code != 0 {
		r.t.Fatalf("in the throwaway root: sh -c %q: exit %d\n%s", script, code, out)
	}
	return out
}

// buildHostDeb packs the .deb for this machine's architecture as `make
// deb` packs the Pi ones: every ./cmd/... binary into BINDIR, nfpm with
// nfpm.yaml choosing what goes in.
func buildHostDeb(t *testing.T) string {
	t.Helper()
	arch := map[string]string{"amd64": "amd64", "arm64": "arm64", "arm": "armhf", "386": "i386"}[runtime.GOARCH]
	if arch == "" {
		t.Skipf("no Debian architecture for GOARCH %s", runtime.GOARCH)
	}
	tmp := t.TempDir()
	bin, dist := filepath.Join(tmp, "bin"), filepath.Join(tmp, "dist")
	build := exec.Command("go", "build", "-trimpath", "-o", bin+"/", "./cmd/...")
	build.Dir = repoRoot(t)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(bin, "ntpload")); err != nil {
		t.Fatalf("the build made no ntpload, so the test cannot show it is left out: %v", err)
	}
	nfpm := exec.Command("go", "tool", "-modfile=packaging/tools/go.mod", "nfpm", "package", "-f", "packaging/nfpm.yaml", "-p", "deb", "-t", dist+"/")
	nfpm.Dir = repoRoot(t)
	nfpm.Env = append(os.Environ(), "ARCH="+arch, "VERSION=1.2.3+install", "BINDIR="+bin)
	if err := os.MkdirAll(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := nfpm.CombinedOutput(); err != nil {
		t.Fatalf("nfpm package: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "gpsntp_*_"+arch+".deb"))
	if len(debs) != 1 {
		t.Fatalf("nfpm made %v, want one gpsntp_*_%s.deb", debs, arch)
	}
	return debs[0]
}

// unitValue is the value of key= in a systemd unit's text.
func unitValue(t *testing.T, unit, key string) string {
	t.Helper()
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	t.Fatalf("gpsntp.service has no %s=", key)
	return ""
}

// asService is how systemd would start a command line of gpsntp.service:
// User=gpsntp, Group=gpsntp, SupplementaryGroups=dialout,
// AmbientCapabilities CAP_NET_BIND_SERVICE (CAP_SYS_TIME is out of the
// bounding set here, and the clock is soft).
func asService(cmdline string) string {
	return "setpriv --reuid=gpsntp --regid=gpsntp --groups=gpsntp,dialout --inh-caps=+net_bind_service --ambient-caps=+net_bind_service -- " + cmdline
}

// The .deb installed with dpkg -i by an admin using sudo, in a throwaway
// root without systemd: the admin joins group gpsntp and is told to log in
// again, ntpload is not installed, the unit's -check-config passes with
// neither /dev/pps0 nor /dev/serial0 and warns, gpsntpd started as the
// unit starts it stays up without them and serves NMEA time once the GPS
// (a simulated receiver on a pty) talks, and gpsntpctl run by the admin
// gets the status once logged in again, and before that an error saying
// to log in again; another user is told to use sudo or join the group.
func TestInstallInThrowawayRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("installs the package in a throwaway root and runs the daemon (about a minute)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts an overlay over / in a private mount namespace (unshare) to install the .deb into")
	}
	for _, tool := range []string{"unshare", "nsenter", "setpriv", "chroot", "mount", "ip", "dpkg", "useradd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: cannot make the throwaway root or install into it", tool)
		}
	}
	start := time.Now()
	deb := buildHostDeb(t)
	t.Logf("built %s in %v", filepath.Base(deb), time.Since(start).Round(time.Second))
	r := newThrowawayRoot(t)
	if err := os.WriteFile(filepath.Join(r.share, "gpsntp.deb"), []byte(readFile(t, deb)), 0o644); err != nil {
		t.Fatal(err)
	}

	// A machine as an admin has it: accounts alice (installs) and bob, no
	// service may start (policy-rc.d), no other time daemon (the package
	// conflicts with them; apt would remove them).
	r.must(nil, `set -e
useradd --create-home --shell /bin/sh alice
useradd --create-home --shell /bin/sh bob
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
others=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev} ${Provides}\n' | awk '$2 == "ii" && / time-daemon/ { print $1 }')
if [ -n "$others" ]; then dpkg --purge --force-depends $others; fi
`)

	out := r.must([]string{"SUDO_USER=alice", "DEBIAN_FRONTEND=noninteractive"}, "dpkg -i /tmp/share/gpsntp.deb")
	t.Logf("sudo dpkg -i gpsntp.deb (SUDO_USER=alice):\n%s", out)
	for _, want := range []string{
		"added alice to group gpsntp",
		"log out and in again",
		"/dev/pps0 does not exist yet",
		"reboot needed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dpkg -i output lacks %q", want)
		}
	}
	group := r.must(nil, "getent group gpsntp")
	if members := strings.Split(strings.TrimSpace(group[strings.LastIndexByte(group, ':')+1:]), ","); !contains(members, "alice") || contains(members, "bob") {
		t.Errorf("getent group gpsntp = %q, want alice in it and not bob", strings.TrimSpace(group))
	}
	if out, code := r.sh(nil, "test -e /run/reboot-required"); code != 0 {
		t.Errorf("no /run/reboot-required after the install: %s", out)
	}
	if out, code := r.sh(nil, "ls /usr/bin/ntpload || dpkg -L gpsntp | grep ntpload"); code == 0 {
		t.Errorf("ntpload installed: %s", out)
	}

	unit := r.must(nil, "cat /usr/lib/systemd/system/gpsntp.service")
	checkCmd := unitValue(t, unit, "ExecStartPre")
	startCmd := unitValue(t, unit, "ExecStart")

	// The unit's check, as the unit runs it, on the packaged config: no
	// /dev/pps0 (no overlay before the reboot) and no /dev/serial0.
	out, code := r.sh(nil, asService(checkCmd))
	t.Logf("%s:\n%s", checkCmd, out)
	if code != 0 || !strings.Contains(out, "/etc/gpsntp/ntp.conf: ok") ||
		!regexp.MustCompile(`warning: .*pps /dev/pps0: does not exist`).MatchString(out) ||
		!regexp.MustCompile(`warning: .*gps /dev/serial0: does not exist`).MatchString(out) {
		t.Errorf("ExecStartPre exit %d, want 0 with warnings for /dev/pps0 and /dev/serial0", code)
	}

	// Never the machine's clock: the packaged config with `clock soft`.
	r.must(nil, `sed -i 's/^clock system$/clock soft/' /etc/gpsntp/ntp.conf && grep -qx 'clock soft' /etc/gpsntp/ntp.conf`)
	// What systemd makes before ExecStart: RuntimeDirectory (0755) and
	// StateDirectory.
	r.must(nil, "install -d -o gpsntp -g gpsntp -m 0755 /run/gpsntp /var/lib/gpsntp")

	// Neither device: the daemon stays up, says why, and serves the
	// control socket.
	d := r.startDaemon(startCmd)
	snap := r.waitStatus(func(s *ctl.Snapshot) bool { return hasAlarm(s, "/dev/pps0") && s.GPS.DeviceState != "" }, time.Minute)
	t.Logf("without /dev/serial0 and /dev/pps0: state %s, gps %s (%s), alarms %q", snap.State, snap.GPS.DeviceState, snap.GPS.DeviceErr, snap.Alarms)
	time.Sleep(3 * time.Second)
	d.mustRun(t)
	d.stop(t)

	// The GPS on a pty, as a UART is: root:dialout 0660.
	gpsDev := simulatedGPS(t)
	r.must(nil, fmt.Sprintf(`sed -i 's|^gps /dev/serial0 |gps %s |' /etc/gpsntp/ntp.conf && grep -q '^gps %s ' /etc/gpsntp/ntp.conf`, gpsDev, gpsDev))
	d = r.startDaemon(startCmd)
	snap = r.waitStatus(func(s *ctl.Snapshot) bool { return s.Synchronised }, 3*time.Minute)
	t.Logf("GPS on %s, no /dev/pps0: state %s, refid %s, stratum %d, alarms %q", gpsDev, snap.State, snap.RefID, snap.Stratum, snap.Alarms)
	if snap.State != "gps" || !hasAlarm(snap, "/dev/pps0") {
		t.Errorf("synchronised without /dev/pps0: state %q, alarms %q; want state gps and an alarm naming /dev/pps0", snap.State, snap.Alarms)
	}
	q := r.ntpQuery(t, "127.0.0.1:123")
	if q.Stratum != 1 || q.Leap == ntp.LeapNotInSync {
		t.Errorf("NTP reply from the installed gpsntpd without /dev/pps0: stratum %d leap %v, want a synchronised stratum 1", q.Stratum, q.Leap)
	}
	d.mustRun(t)

	// gpsntpctl, as alice and bob would run it.
	for _, tc := range []struct {
		name, who, groups string
		wantCode          int
		want              []string
	}{
		{"alice before logging in again", "alice", "--clear-groups", 1, []string{
			"permission denied",
			"You (alice) are in group gpsntp, but this login session started before you joined it: log out and in again",
			"sudo gpsntpctl status",
		}},
		{"alice logged in again", "alice", "--init-groups", 0, []string{"ALARM: ", "/dev/pps0"}},
		{"bob", "bob", "--init-groups", 1, []string{
			"permission denied",
			"the control socket /run/gpsntp/ctl.sock is for root and group gpsntp: run `sudo gpsntpctl status`, or join the group with `sudo adduser bob gpsntp` and log out and in again",
		}},
	} {
		out, code := r.sh(nil, fmt.Sprintf("setpriv --reuid=%s --regid=%s %s -- env HOME=/home/%s gpsntpctl status", tc.who, tc.who, tc.groups, tc.who))
		t.Logf("gpsntpctl status as %s:\n%s", tc.name, out)
		if code != tc.wantCode {
			t.Errorf("gpsntpctl status as %s: exit %d, want %d", tc.name, code, tc.wantCode)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("gpsntpctl status as %s lacks %q", tc.name, w)
			}
		}
	}
	d.stop(t)
	t.Logf("whole test %v", time.Since(start).Round(time.Second))
}

// daemon is a gpsntpd started in the root, known by its PID there.
type daemon struct {
	r   *throwawayRoot
	cmd *exec.Cmd
	log *strings.Builder
	pid string
}

// startDaemon runs the unit's ExecStart as the unit would, in the
// background, writing its PID inside the root.
func (r *throwawayRoot) startDaemon(cmdline string) *daemon {
	r.t.Helper()
	r.sh(nil, "rm -f /run/gpsntpd.pid")
	cmd := r.command(context.Background(), nil, "sh", "-c", "echo $$ >/run/gpsntpd.pid; exec "+asService(cmdline))
	log := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	d := &daemon{r: r, cmd: cmd, log: log}
	for deadline := time.Now().Add(time.Minute); ; {
		if out, code := r.sh(nil, "cat /run/gpsntpd.pid"); code == 0 && strings.TrimSpace(out) != "" {
			d.pid = strings.TrimSpace(out)
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("gpsntpd wrote no pid in a minute; log:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			r.t.Logf("gpsntpd log:\n%s", log.String())
		}
	})
	return d
}

// mustRun fails the test if the daemon has exited.
func (d *daemon) mustRun(t *testing.T) {
	t.Helper()
	if out, code := d.r.sh(nil, "kill -0 "+d.pid); code != 0 {
		t.Fatalf("gpsntpd (pid %s in the root) is gone: %s\nlog:\n%s", d.pid, out, d.log.String())
	}
}

// stop sends SIGTERM to the daemon by its PID and waits for it.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.r.must(nil, "kill -TERM "+d.pid)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("gpsntpd after SIGTERM: %v\nlog:\n%s", err, d.log.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("gpsntpd still running a minute after SIGTERM; log:\n%s", d.log.String())
	}
}

// waitStatus polls `gpsntpctl status -json` (as root, in the root) until
// ok holds, and returns that snapshot.
func (r *throwawayRoot) waitStatus(ok func(*ctl.Snapshot) bool, limit time.Duration) *ctl.Snapshot {
	r.t.Helper()
	var last string
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		out, code := r.sh(nil, "gpsntpctl status -json 2>&1")
		last = out
		if code != 0 {
			continue
		}
		var s ctl.Snapshot
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			r.t.Fatalf("gpsntpctl status -json: %v\n%s", err, out)
		}
		if ok(&s) {
			return &s
		}
	}
	r.t.Fatalf("gpsntpctl status never showed what the test waits for in %v; last:\n%s", limit, last)
	return nil
}

// ntpQuery asks addr, in the root's network namespace, for the time: this
// test binary runs TestInstallHelperNTPQuery there.
func (r *throwawayRoot) ntpQuery(t *testing.T, addr string) *ntp.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := append(noClock[1:len(noClock):len(noClock)], "nsenter", "--target", strconv.Itoa(r.nsPID), "--net",
		"--", os.Args[0], "-test.run=^TestInstallHelperNTPQuery$", "-test.v")
	cmd := exec.CommandContext(ctx, noClock[0], a...)
	cmd.Env = append(os.Environ(), "GPSNTP_NTP_QUERY="+addr)
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`NTPRESPONSE (\{.*\})`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("NTP query of %s in the root's network: %v\n%s", addr, err, out)
	}
	var resp ntp.Response
	if err := json.Unmarshal(m[1], &resp); err != nil {
		t.Fatal(err)
	}
	t.Logf("NTP reply from %s: stratum %d, leap %v, refid %#x, offset %v, rtt %v", addr, resp.Stratum, resp.Leap, resp.ReferenceID, resp.ClockOffset, resp.RTT)
	return &resp
}

// TestInstallHelperNTPQuery is not a test: TestInstallInThrowawayRoot runs
// it inside the throwaway root's network namespace to query the daemon
// there. It retries for 30 s: under load the first reply may be late.
func TestInstallHelperNTPQuery(t *testing.T) {
	addr := os.Getenv("GPSNTP_NTP_QUERY")
	if addr == "" {
		t.Skip("helper of TestInstallInThrowawayRoot")
	}
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		var resp *ntp.Response
		if resp, err = ntp.QueryWithOptions(addr, ntp.QueryOptions{Timeout: 5 * time.Second}); err == nil {
			b, _ := json.Marshal(resp)
			fmt.Printf("NTPRESPONSE %s\n", b)
			return
		}
	}
	t.Fatal(err)
}

// simulatedGPS runs a simulated receiver on a new pty until the test ends
// and returns the pty's device, given to root:dialout 0660 as a Pi's UART
// is, so that the daemon (user gpsntp, group dialout) may open it.
func simulatedGPS(t *testing.T) string {
	t.Helper()
	master, slave, err := sim.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); master.Close() })
	rx, err := sim.New(sim.Config{Timeline: simtime.Timeline{StartHostNs: time.Now().UnixNano()}, Baud: 9600, Seed: 1}, master)
	if err != nil {
		t.Fatal(err)
	}
	go rx.Run(ctx)
	g, err := user.LookupGroup("dialout")
	if err != nil {
		t.Skipf("no group dialout: %v", err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	if err := os.Chown(slave, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(slave, 0o660); err != nil {
		t.Fatal(err)
	}
	return slave
}

func hasAlarm(s *ctl.Snapshot, sub string) bool {
	for _, a := range s.Alarms {
		if strings.Contains(a, sub) {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
