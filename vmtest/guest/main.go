//go:build linux

// Command guest is PID 1 of the arm64 VM in vmtest's GPIO test: a small
// agent that answers the host, line by line, on the serial console
// (ttyAMA0), and runs the appliance's own code against the guest's real
// kernel: pps.OpenGPIO on the PL061 GPIO controller, and gpsntpd.
//
// The host writes "ID VERB ARGS…\n"; the agent answers each with one or
// more lines "GUEST ID VERB JSON" (an edge stream ends with VERB "done").
// Errors are {"error": "…"}. Kernel messages and gpsntpd's log share the
// console, so the host looks for "GUEST " anywhere in a line.
//
// Verbs:
//
//	info                 kernel release, GPIO chips, what was unbound at boot
//	lineinfo CHIP LINE   pps.GPIOLineInfo: consumer and flags of the line
//	edges CHIP LINE N S  pps.OpenGPIO, then N edges (or S seconds): one "edge"
//	                     line each, with the validator's verdict
//	start CONF           start /gpsntpd -config CONF (log on the console)
//	stop                 SIGTERM gpsntpd, wait for it to exit
//	status               gpsntpd's control-socket snapshot, in brief
//	unbind DEV | bind DEV  detach or attach DEV's driver (the GPIO controller)
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/pps"
	"github.com/gpsntp/gpsntp/vmtest/agentwire"
)

// ctlSocket is where the guest's gpsntp.conf puts the control socket.
const ctlSocket = "/run/gpsntp.sock"

type agent struct {
	mu      sync.Mutex // one reply line at a time
	out     *os.File
	daemon  *exec.Cmd
	exited  chan error
	unbound string // what init freed at boot
}

func main() {
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/run", "tmpfs"}, {"tmpfs", "/tmp", "tmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			fmt.Fprintf(os.Stderr, "guest: mount %s: %v\n", m.dst, err)
		}
	}
	tty, err := os.OpenFile("/dev/ttyAMA0", os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "guest: open console: %v\n", err)
		halt()
	}
	// Raw: no echo of the host's commands, no line editing.
	if _, err := ctl.MakeRaw(int(tty.Fd()), 0); err != nil {
		fmt.Fprintf(tty, "guest: console raw mode: %v\n", err)
	}
	a := &agent{out: tty}
	// QEMU's virt machine wires PL061 line 3 to its power button; the
	// gpio-keys driver holds it. Freed, the line is the host's PPS input
	// (QMP system_powerdown raises it, and lowers it 100 ms later).
	if err := os.WriteFile("/sys/bus/platform/drivers/gpio-keys/unbind", []byte("gpio-keys"), 0); err != nil {
		a.unbound = "gpio-keys: " + err.Error()
	} else {
		a.unbound = "gpio-keys"
	}
	a.reply("0", "ready", map[string]string{"unbound": a.unbound})
	sc := bufio.NewScanner(tty)
	for sc.Scan() {
		f := strings.Fields(strings.TrimSpace(sc.Text()))
		if len(f) < 2 {
			continue
		}
		a.do(f[0], f[1], f[2:])
	}
	fmt.Fprintf(tty, "guest: console read: %v\n", sc.Err())
	halt()
}

func halt() {
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func (a *agent) reply(id, verb string, v any) {
	if err, ok := v.(error); ok {
		v = map[string]string{"error": err.Error()}
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.out.Write([]byte("\nGUEST " + id + " " + verb + " " + string(b) + "\n"))
}

// verbs are the agent's commands; each returns its answer (an error
// becomes {"error": …}). Other files add theirs in init.
var verbs = map[string]func(a *agent, id string, args []string) any{
	"info": func(a *agent, id string, args []string) any { return a.info() },
	"lineinfo": func(a *agent, id string, args []string) any {
		chip, line, err := chipLine(args)
		if err != nil {
			return err
		}
		li, err := pps.GPIOLineInfo(chip, line)
		if err != nil {
			return err
		}
		return li
	},
	"edges":  (*agent).edges,
	"start":  func(a *agent, id string, args []string) any { return a.start(args) },
	"stop":   func(a *agent, id string, args []string) any { return a.stop() },
	"status": func(a *agent, id string, args []string) any { return status() },
	"unbind": func(a *agent, id string, args []string) any { return a.driver("unbind", args) },
	"bind":   func(a *agent, id string, args []string) any { return a.driver("bind", args) },
}

func (a *agent) do(id, verb string, args []string) {
	f, ok := verbs[verb]
	if !ok {
		a.reply(id, verb, fmt.Errorf("unknown verb %q", verb))
		return
	}
	a.reply(id, verb, f(a, id, args))
}

func chipLine(args []string) (string, uint32, error) {
	if len(args) < 2 {
		return "", 0, errors.New("want CHIP LINE")
	}
	n, err := strconv.ParseUint(args[1], 10, 32)
	return args[0], uint32(n), err
}

type chip struct {
	Path  string `json:"path"`
	Label string `json:"label"`
	Lines uint32 `json:"lines"`
}

func (a *agent) info() any {
	var u unix.Utsname
	unix.Uname(&u)
	var chips []chip
	paths, _ := filepath.Glob("/dev/gpiochip*")
	for _, p := range paths {
		if li, err := pps.GPIOLineInfo(p, 0); err == nil {
			chips = append(chips, chip{Path: p, Label: li.Label, Lines: li.ChipLines})
		}
	}
	return map[string]any{"release": unix.ByteSliceToString(u.Release[:]), "chips": chips, "unbound": a.unbound}
}

// edges opens the line with the daemon's driver and streams N edges.
func (a *agent) edges(id string, args []string) any {
	chip, line, err := chipLine(args)
	if err != nil || len(args) < 4 {
		return errors.New("want CHIP LINE N SECONDS")
	}
	n, _ := strconv.Atoi(args[2])
	secs, _ := strconv.Atoi(args[3])
	g, err := pps.OpenGPIO(pps.GPIOConfig{Chip: chip, Line: line})
	if err != nil {
		return err
	}
	li, _ := pps.GPIOLineInfo(chip, line)
	return a.stream(id, g, li, n, time.Duration(secs)*time.Second)
}

// stream answers "open" with opened, then one "edge" per edge of src until
// n edges or limit, and closes src; its result is the final answer.
func (a *agent) stream(id string, src pps.Source, opened any, n int, limit time.Duration) any {
	defer src.Close()
	a.reply(id, "open", opened)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	v := pps.NewValidator(pps.ValidatorConfig{})
	got := 0
	for got < n {
		e, err := src.Next(ctx)
		if err != nil {
			return map[string]any{"edges": got, "stopped": err.Error()}
		}
		got++
		vd := v.Check(e)
		a.reply(id, "edge", agentwire.Edge{Seq: e.Seq, AssertNs: e.AssertNs, ReadNs: time.Now().UnixNano(),
			Class: vd.Class.String(), Missed: vd.Missed, IntervalNs: vd.IntervalNs})
	}
	return map[string]any{"edges": got}
}

func (a *agent) start(args []string) any {
	if a.daemon != nil {
		return errors.New("gpsntpd already running")
	}
	if len(args) != 1 {
		return errors.New("want CONF")
	}
	cmd := exec.Command("/gpsntpd", "-config", args[0])
	cmd.Stdout, cmd.Stderr = a.out, a.out
	if err := cmd.Start(); err != nil {
		return err
	}
	a.daemon, a.exited = cmd, make(chan error, 1)
	go func(c *exec.Cmd, ch chan error) { ch <- c.Wait() }(cmd, a.exited)
	return map[string]int{"pid": cmd.Process.Pid}
}

func (a *agent) stop() any {
	if a.daemon == nil {
		return errors.New("gpsntpd not running")
	}
	start := time.Now()
	a.daemon.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-a.exited:
	case <-time.After(15 * time.Second):
		a.daemon.Process.Kill()
		err = fmt.Errorf("still running 15 s after SIGTERM: killed (%v)", <-a.exited)
	}
	a.daemon = nil
	res := map[string]any{"ms": time.Since(start).Milliseconds(), "exit": "0"}
	if err != nil {
		res["exit"] = err.Error()
	}
	return res
}

func status() any {
	s, err := ctl.Fetch(ctlSocket, 5*time.Second)
	if err != nil {
		return err
	}
	return agentwire.Status{State: s.State, RefID: s.RefID, Alarms: s.Alarms, PPS: s.PPS, Fixes: s.GPS.Fixes, GPSDev: s.GPS.DeviceState}
}

// driver detaches (unbind) or attaches (bind) the platform or AMBA device
// dev: the GPIO controller vanishing under the daemon, and coming back.
func (a *agent) driver(verb string, args []string) any {
	if len(args) != 1 {
		return errors.New("want DEVICE")
	}
	dev := args[0]
	var drv string
	for _, bus := range []string{"amba", "platform"} {
		link := filepath.Join("/sys/bus", bus, "devices", dev, "driver")
		if verb == "bind" {
			// The driver an unbind saw is remembered in a file; see below.
			if b, err := os.ReadFile("/run/driver." + dev); err == nil {
				drv = string(b)
				break
			}
		} else if t, err := os.Readlink(link); err == nil {
			drv = filepath.Join("/sys/bus", bus, "drivers", filepath.Base(t))
			break
		}
	}
	if drv == "" {
		return fmt.Errorf("%s: no driver to %s", dev, verb)
	}
	if verb == "unbind" {
		os.WriteFile("/run/driver."+dev, []byte(drv), 0o644)
	}
	if err := os.WriteFile(filepath.Join(drv, verb), []byte(dev), 0); err != nil {
		return err
	}
	return map[string]string{"driver": drv}
}
