package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// This file is the arm64 rig the GPIO test boots: an initramfs with the
// guest agent (vmtest/guest) as /init, qemu-system-aarch64 -M virt with the
// image's own Raspberry Pi kernel, a console the host talks to, a QMP
// socket that pulses the PL061 GPIO line, and a USB serial port (QEMU's
// FTDI emulation) for NMEA.

// cpioEntry is one file of an initramfs.
type cpioEntry struct {
	name string
	mode uint32 // with the type bits: 0o100755, 0o040755, 0o020600
	data []byte
	rdev [2]uint32 // major, minor of a device node
}

// writeCPIO writes entries as a "newc" cpio archive, the format the kernel
// unpacks into its initramfs (Documentation/driver-api/early-userspace/
// buffer-format.rst): a 110-byte ASCII header, the name, the data, each
// padded to 4 bytes, then the TRAILER!!! entry.
func writeCPIO(w io.Writer, entries []cpioEntry) error {
	bw := bufio.NewWriter(w)
	pad := func(n int) { bw.Write(make([]byte, (4-n%4)%4)) }
	ino := uint32(1)
	put := func(e cpioEntry) {
		name := e.name + "\x00"
		fmt.Fprintf(bw, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.mode, 0, 0, 1, 0, len(e.data), 0, 0, e.rdev[0], e.rdev[1], len(name), 0)
		ino++
		bw.WriteString(name)
		pad(110 + len(name))
		bw.Write(e.data)
		pad(len(e.data))
	}
	for _, e := range entries {
		put(e)
	}
	put(cpioEntry{name: "TRAILER!!!"})
	return bw.Flush()
}

// guestLine is one "GUEST ID VERB JSON" line from the agent.
type guestLine struct {
	id, verb string
	body     json.RawMessage
}

// console is the host's end of the guest's ttyAMA0: everything read is
// kept in a log file, agent lines are handed out by id.
type console struct {
	t    *testing.T
	conn net.Conn
	log  *os.File

	mu      sync.Mutex
	lines   []guestLine
	changed chan struct{} // closed and replaced on every new agent line
	err     error         // why reading stopped
	nextID  int
}

func dialRetry(path string, limit time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.Dial("unix", path)
		if err == nil || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newConsole(t *testing.T, conn net.Conn, logPath string) *console {
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	c := &console{t: t, conn: conn, log: f, changed: make(chan struct{}), nextID: 1}
	go c.read()
	return c
}

func (c *console) read() {
	br := bufio.NewReader(c.conn)
	for {
		l, err := br.ReadString('\n')
		c.log.WriteString(l)
		if i := strings.Index(l, "GUEST "); i >= 0 {
			f := strings.SplitN(strings.TrimSpace(l[i:]), " ", 4)
			if len(f) == 4 {
				c.mu.Lock()
				c.lines = append(c.lines, guestLine{f[1], f[2], json.RawMessage(f[3])})
				close(c.changed)
				c.changed = make(chan struct{})
				c.mu.Unlock()
			}
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
	}
}

// wait returns the first unconsumed agent line with id and one of verbs,
// removing it, or fails the test after limit.
func (c *console) wait(id string, limit time.Duration, verbs ...string) guestLine {
	c.t.Helper()
	deadline := time.After(limit)
	for {
		c.mu.Lock()
		for i, l := range c.lines {
			if l.id == id && (len(verbs) == 0 || contains(verbs, l.verb)) {
				c.lines = append(c.lines[:i:i], c.lines[i+1:]...)
				c.mu.Unlock()
				return l
			}
		}
		ch, err := c.changed, c.err
		c.mu.Unlock()
		if err != nil {
			c.t.Fatalf("guest console closed waiting for %s %v: %v", id, verbs, err)
		}
		select {
		case <-ch:
		case <-deadline:
			c.t.Fatalf("no answer %s %v from the guest within %v", id, verbs, limit)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// send writes a command and returns its id.
func (c *console) send(verb string, args ...string) string {
	c.t.Helper()
	c.mu.Lock()
	id := fmt.Sprint(c.nextID)
	c.nextID++
	c.mu.Unlock()
	if _, err := c.conn.Write([]byte(strings.Join(append([]string{id, verb}, args...), " ") + "\n")); err != nil {
		c.t.Fatalf("write to the guest console: %v", err)
	}
	return id
}

// call sends a command, waits for its final answer and decodes it into v;
// an {"error": …} answer fails the test.
func (c *console) call(limit time.Duration, v any, verb string, args ...string) {
	c.t.Helper()
	l := c.wait(c.send(verb, args...), limit, verb)
	if err := decodeAnswer(l, v); err != nil {
		c.t.Fatalf("guest %s %v: %v", verb, args, err)
	}
}

func decodeAnswer(l guestLine, v any) error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(l.body, &e) == nil && e.Error != "" {
		return fmt.Errorf("%s", e.Error)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(l.body, v); err != nil {
		return fmt.Errorf("decode %s: %v", l.body, err)
	}
	return nil
}

// qmp drives QEMU's machine monitor: system_powerdown is a pulse on the
// PL061 line the virt board wires to its power button (high, then low
// 100 ms later: hw/gpio/gpio_key.c).
type qmp struct {
	conn net.Conn
	dec  *json.Decoder
	log  io.Writer // transcript
	mu   sync.Mutex
}

func newQMP(path string, transcript io.Writer) (*qmp, error) {
	c, err := dialRetry(path, 10*time.Second)
	if err != nil {
		return nil, err
	}
	q := &qmp{conn: c, dec: json.NewDecoder(c), log: transcript}
	var greeting map[string]any
	if err := q.dec.Decode(&greeting); err != nil {
		c.Close()
		return nil, fmt.Errorf("QMP greeting: %w", err)
	}
	if err := q.do("qmp_capabilities"); err != nil {
		c.Close()
		return nil, err
	}
	return q, nil
}

// do runs one command and waits for its return, skipping events.
func (q *qmp) do(cmd string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(q.log, "%s -> %s\n", time.Now().UTC().Format("15:04:05.000000"), cmd)
	if _, err := fmt.Fprintf(q.conn, `{"execute":%q}`+"\n", cmd); err != nil {
		return fmt.Errorf("QMP %s: %w", cmd, err)
	}
	for {
		var m map[string]json.RawMessage
		if err := q.dec.Decode(&m); err != nil {
			return fmt.Errorf("QMP %s: %w", cmd, err)
		}
		b, _ := json.Marshal(m)
		fmt.Fprintf(q.log, "%s <- %s\n", time.Now().UTC().Format("15:04:05.000000"), b)
		if e, ok := m["error"]; ok {
			return fmt.Errorf("QMP %s: %s", cmd, e)
		}
		if _, ok := m["return"]; ok {
			return nil
		}
	}
}

// pulse fires one PPS pulse and returns the host time just before it was
// asked for.
func (q *qmp) pulse() (time.Time, error) {
	t := time.Now()
	return t, q.do("system_powerdown")
}

// goBinary cross-builds a package of this module for linux/arm64.
func goBinary(t *testing.T, root, pkg, out string) []byte {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s for linux/arm64: %v\n%s", pkg, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rpiKernel returns the directory of the Raspberry Pi kernel module the SD
// image ships (image/gpsntp/builddir pins its version), downloading it
// into the module cache if needed.
func rpiKernel(t *testing.T, root string) string {
	t.Helper()
	gomod := filepath.Join(root, "image/gpsntp/builddir/github.com/gokrazy/kernel.rpi/go.mod")
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	var ver string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "require" && f[1] == "github.com/gokrazy/kernel.rpi" {
			ver = f[2]
		}
	}
	if ver == "" {
		t.Fatalf("%s: no require line for github.com/gokrazy/kernel.rpi", gomod)
	}
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/gokrazy/kernel.rpi@"+ver)
	cmd.Dir = t.TempDir() // outside the main module: it does not require the kernel
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download github.com/gokrazy/kernel.rpi@%s: %v\n%s", ver, err, out)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go mod download: no Dir in %s", out)
	}
	return m.Dir
}

// tailFile is the last n bytes of a file, for failure messages.
func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	return string(bytes.ToValidUTF8(tail(b, n), []byte("?")))
}

// rigConfig says what to boot; zero values are the GPIO test's rig.
type rigConfig struct {
	// kernel is the arm64 Image to boot; "" means the SD image's own
	// Raspberry Pi kernel (rpiKernel).
	kernel string
	// dtb replaces the device tree QEMU generates for virt (-dtb); "" keeps
	// QEMU's.
	dtb string
	// files are added to the initramfs beside /init (the agent) and
	// /gpsntpd; directories /dev /proc /sys /run /tmp /etc exist.
	files []cpioEntry
	// append is added to the kernel command line.
	append string
}

// rig is a booted arm64 guest with its agent answering.
type rig struct {
	work    string // files: console.log, qmp.log, initrd.cpio, sockets
	con     *console
	qmp     *qmp
	gpsSock string // QEMU's end of the guest's /dev/ttyUSB0
}

// startRig builds the initramfs, boots qemu-system-aarch64 -M virt and
// waits for the agent's first word. It skips unless GPSNTP_VMTEST=1 and
// qemu-system-aarch64 is installed; qemu is killed when t ends, and on
// failure the console, qemu's output and the QMP transcript are logged.
// GPSNTP_VMTEST_KEEP=DIR keeps the files in DIR.
func startRig(t *testing.T, cfg rigConfig) *rig {
	t.Helper()
	if os.Getenv("GPSNTP_VMTEST") != "1" {
		t.Skip("the arm64 VM tests run with `make test-vm` (GPSNTP_VMTEST=1)")
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
		work = filepath.Join(d, t.Name())
		os.MkdirAll(work, 0o755)
	}
	kernel := cfg.kernel
	if kernel == "" {
		kernel = filepath.Join(rpiKernel(t, root), "vmlinuz")
	}
	start := time.Now()
	initBin := goBinary(t, root, "./vmtest/guest", filepath.Join(work, "init"))
	daemon := goBinary(t, root, "./cmd/gpsntpd", filepath.Join(work, "gpsntpd"))
	t.Logf("BENCH vm-arm64-build %.1fs", time.Since(start).Seconds())
	var cpio bytes.Buffer
	entries := []cpioEntry{
		{name: "dev", mode: 0o040755}, {name: "dev/console", mode: 0o020600, rdev: [2]uint32{5, 1}},
		{name: "proc", mode: 0o040755}, {name: "sys", mode: 0o040755},
		{name: "run", mode: 0o040755}, {name: "tmp", mode: 0o041777},
		{name: "etc", mode: 0o040755},
		{name: "init", mode: 0o100755, data: initBin},
		{name: "gpsntpd", mode: 0o100755, data: daemon},
	}
	if err := writeCPIO(&cpio, append(entries, cfg.files...)); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(work, "initrd.cpio")
	if err := os.WriteFile(initrd, cpio.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	r := &rig{work: work, gpsSock: filepath.Join(work, "gps.sock")}
	conSock, qmpSock := filepath.Join(work, "con.sock"), filepath.Join(work, "qmp.sock")
	args := []string{
		"-M", "virt,acpi=off", "-cpu", "cortex-a72", "-smp", "1", "-m", "512",
		"-accel", "tcg,thread=single", // no KVM here, and the guest's clock is its own
		"-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none",
		"-kernel", kernel, "-initrd", initrd,
		"-append", strings.TrimSpace("console=ttyAMA0,115200 rdinit=/init loglevel=4 panic=-1 " + cfg.append),
		// The console: qemu waits for the host to connect, so no boot
		// message is lost.
		"-chardev", "socket,id=con,path=" + conSock + ",server=on,wait=on",
		"-serial", "chardev:con",
		"-qmp", "unix:" + qmpSock + ",server=on,wait=off",
		// The GPS: QEMU's FTDI FT232 emulation on an xHCI controller,
		// /dev/ttyUSB0 in the guest.
		"-device", "qemu-xhci",
		"-chardev", "socket,id=gps,path=" + r.gpsSock + ",server=on,wait=off",
		"-device", "usb-serial,chardev=gps",
	}
	if cfg.dtb != "" {
		args = append(args, "-dtb", cfg.dtb)
	}
	ctx, cancel := context.WithCancel(context.Background())
	qemu := exec.CommandContext(ctx, "qemu-system-aarch64", args...)
	qemu.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	qemuOut := new(strings.Builder)
	qemu.Stdout, qemu.Stderr = qemuOut, qemuOut
	bootStart := time.Now()
	if err := qemu.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- qemu.Wait() }()
	consoleLog := filepath.Join(work, "console.log")
	qmpLog, err := os.Create(filepath.Join(work, "qmp.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-exited
		qmpLog.Close()
		if t.Failed() {
			t.Logf("qemu output:\n%s\nguest console (last 8 KiB, all in %s):\n%s\nQMP transcript (last 2 KiB, all in %s):\n%s",
				qemuOut, consoleLog, tailFile(consoleLog, 8<<10), qmpLog.Name(), tailFile(qmpLog.Name(), 2<<10))
		}
	})
	cc, err := dialRetry(conSock, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to the guest console: %v (qemu: %s)", err, qemuOut)
	}
	r.con = newConsole(t, cc, consoleLog)
	r.con.wait("0", rigBootLimit, "ready")
	t.Logf("BENCH vm-arm64-boot %.1fs (to the agent's first word)", time.Since(bootStart).Seconds())
	if r.qmp, err = newQMP(qmpSock, qmpLog); err != nil {
		t.Fatal(err)
	}
	return r
}
