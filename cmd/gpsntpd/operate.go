package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// controlPath is the control socket's path: -control, else the `control`
// directive, else the default (a per-user runtime path with -sim). "":
// none.
func controlPath(o options, cfg config.Config) string {
	p := cfg.Control
	if o.control != "" {
		p = o.control
	}
	switch p {
	case "none":
		return ""
	case "":
		if o.sim {
			return ctl.SimSocket()
		}
		return ctl.DefaultSocket
	}
	return p
}

// consoleConfig is the console: -console overrides the directive.
func consoleConfig(o options, cfg config.Config) config.Console {
	c := cfg.Console
	if o.console != "" {
		c = config.Console{Device: o.console, Baud: 115200}
	}
	c = resolveConsole(cfg, c) // `console auto`: the board's spare UART
	if c.Device == "none" {
		c.Device = ""
	}
	return c
}

// consoleRunner is a running console, restartable on reload.
type consoleRunner struct {
	cancel context.CancelFunc
	done   chan struct{}
	cfg    config.Console
}

// consoleStopWait bounds how long stop waits for the console: a terminal
// whose output is stopped (XOFF, Scroll Lock) must not hold up a reload or
// the daemon's exit.
const consoleStopWait = time.Second

// stop ends the console; it reports whether it really ended within
// consoleStopWait (if not, its goroutine is left to end on its own).
func (r *consoleRunner) stop() bool {
	if r == nil {
		return true
	}
	r.cancel()
	select {
	case <-r.done:
		return true
	case <-time.After(consoleStopWait):
		return false
	}
}

// startConsole runs the console on con.Device until ctx is done or stop;
// when the device fails (a USB serial adapter unplugged) it retries every
// 10 s. opened, if not nil, is con.Device opened already (before the
// privilege drop); retries open it by name. nil when no console is
// configured.
func startConsole(ctx context.Context, con config.Console, opened *os.File, get func() *ctl.Snapshot, log *slog.Logger) *consoleRunner {
	if con.Device == "" {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &consoleRunner{cancel: cancel, done: make(chan struct{}), cfg: con}
	go func() {
		defer close(r.done)
		last := ""
		for {
			err := runConsole(ctx, con, opened, get)
			opened = nil
			if ctx.Err() != nil {
				return
			}
			// Once per cause: a console that is not there (a Zero 2 W
			// without the USB gadget module) must not fill the log.
			if err.Error() != last {
				log.Warn("console failed; retrying every 10 s", "device", con.Device, "err", err)
				last = err.Error()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Second):
			}
		}
	}()
	return r
}

// openConsoleDevice opens a console terminal: never as the controlling
// terminal, so a hangup on it cannot kill the daemon.
func openConsoleDevice(dev string) (*os.File, error) {
	f, err := os.OpenFile(dev, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return f, nil
}

func runConsole(ctx context.Context, con config.Console, f *os.File, get func() *ctl.Snapshot) error {
	var r io.Reader
	var w io.Writer
	if con.Device == "-" {
		r, w = os.Stdin, os.Stdout
		if ctl.IsTerminal(0) {
			restore, err := ctl.MakeRaw(0, 0)
			if err != nil {
				return fmt.Errorf("console: stdin: %w", err)
			}
			defer restore()
		}
	} else {
		if f == nil {
			var err error
			if f, err = openConsoleDevice(con.Device); err != nil {
				return err
			}
		}
		defer f.Close()
		// SyscallConn, not Fd: Fd would switch the file to blocking mode,
		// and Close could no longer interrupt the console's read.
		rc, err := f.SyscallConn()
		if err != nil {
			return fmt.Errorf("console %s: %w", con.Device, err)
		}
		var restore func() error
		cerr := rc.Control(func(fd uintptr) { restore, err = ctl.MakeRaw(int(fd), con.Baud) })
		if cerr != nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("console %s: %w", con.Device, err)
		}
		defer restore()
		r, w = f, f
	}
	// Run leaves the cursor below the screen itself, through its own
	// queue: a direct write here would block on a stopped terminal.
	c := &ctl.Console{R: r, W: w, Get: get}
	return c.Run(ctx)
}

// logDevice logs the GPS serial device's transitions (found, lost), once
// per transition.
func logDevice(log *slog.Logger, dev string, st gps.Stats, prev gps.DeviceState) gps.DeviceState {
	if st.Device == prev {
		return prev
	}
	switch st.Device {
	case gps.DeviceOpen:
		log.Info("GPS device open", "device", dev, "baud", st.Baud)
	case gps.DeviceLost:
		log.Warn("GPS device lost", "device", dev, "err", st.DeviceErr)
	case gps.DeviceConnecting:
		log.Info("GPS device: detecting baud rate", "device", dev)
	}
	return st.Device
}

// reloadable is what SIGHUP applies without a restart: the console. The
// rest is compared and reported.
var restartOnly = []struct {
	name string
	get  func(c config.Config) any
}{
	{"gps", func(c config.Config) any { return c.GPS }},
	{"pps", func(c config.Config) any { return c.PPS }},
	{"board", func(c config.Config) any { return c.Board }},
	{"clock", func(c config.Config) any { return c.Clock }},
	{"listen/interface", func(c config.Config) any { return c.Listen }},
	{"driftfile", func(c config.Config) any { return c.DriftFile }},
	{"leapfile", func(c config.Config) any { return c.LeapFile }},
	{"server/pool", func(c config.Config) any { return c.Upstreams }},
	{"control", func(c config.Config) any { return c.Control }},
	{"web", func(c config.Config) any { return c.Web }},
	{"metrics", func(c config.Config) any { return c.Metrics }},
	{"user", func(c config.Config) any { return c.User }},
	{"holdover", func(c config.Config) any { return [2]time.Duration{c.HoldoverMax, c.MaxError} }},
	{"ppsoffset", func(c config.Config) any { return c.PPSOffset }},
	{"nmeadelay", func(c config.Config) any { return c.NMEADelay }},
	{"step", func(c config.Config) any { return c.Step }},
	{"tinker", func(c config.Config) any { return [2]time.Duration{c.StepOut, c.Panic} }},
	{"mdns", func(c config.Config) any { return c.MDNS }},
}

// reload re-reads the configuration (SIGHUP). A file that does not parse
// or validates changes nothing. The console is restarted if it changed;
// other changes are reported as needing a restart. cur is updated to what
// is in force.
// restrictWords is the access configuration as written, for comparison.
func restrictWords(c config.Config) any {
	a := [][]string{c.Discard}
	for _, r := range c.Restricts {
		a = append(a, r.Args)
	}
	return a
}

// reload re-reads the configuration on SIGHUP: the console and the access
// rules (restrict, discard: swapped atomically in the running server) take
// effect at once; anything else is reported as needing a restart.
func reload(ctx context.Context, o options, cur *config.Config, cons *consoleRunner, get func() *ctl.Snapshot, setAccess func(*restrict.Table, *restrict.Discard), log *slog.Logger) *consoleRunner {
	if o.configPath == "" {
		log.Info("config reload: no configuration file (-config), nothing to reload")
		return cons
	}
	nc, err := config.Load(o.configPath)
	if err == nil {
		err = validateConfig(nc)
	}
	if err != nil {
		log.Error("config reload failed; running configuration unchanged", "file", o.configPath, "err", strings.ReplaceAll(err.Error(), "\n", "; "))
		return cons
	}
	var applied, restart []string
	if !reflect.DeepEqual(restrictWords(*cur), restrictWords(nc)) {
		// validate has checked that these parse.
		if table, discard, err := accessRules(nc); err == nil {
			setAccess(table, discard)
			cur.Restricts, cur.Discard, cur.DiscardPos = nc.Restricts, nc.Discard, nc.DiscardPos
			applied = append(applied, "restrict")
		}
	}
	if o.console == "" && nc.Console != cur.Console {
		cons.stop()
		cons = startConsole(ctx, consoleConfig(o, nc), nil, get, log)
		cur.Console = nc.Console
		applied = append(applied, "console")
	}
	for _, f := range restartOnly {
		if !reflect.DeepEqual(f.get(*cur), f.get(nc)) {
			restart = append(restart, f.name)
		}
	}
	attrs := []any{"file", o.configPath}
	if len(applied) > 0 {
		attrs = append(attrs, "applied", strings.Join(applied, ","))
	}
	if len(restart) > 0 {
		attrs = append(attrs, "needs_restart", strings.Join(restart, ","))
		log.Warn("config reloaded; some changes need a restart", attrs...)
		return cons
	}
	if len(applied) == 0 {
		attrs = append(attrs, "changes", "none")
	}
	log.Info("config reloaded", attrs...)
	return cons
}
