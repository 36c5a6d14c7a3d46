package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
)

// daemon serves snap on a control socket for the test's duration.
func daemon(t *testing.T, snap *ctl.Snapshot) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := ctl.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctl.Serve(ctx, ln, func() *ctl.Snapshot { return snap }) }()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

// With every slot taken by idle clients, gpsntpctl says the daemon is busy
// (it used to print "connection reset by peer"). The idle clients connect
// first, so the server has accepted them, in order, before gpsntpctl.
func TestStatusBusy(t *testing.T) {
	path := daemon(t, &ctl.Snapshot{State: "pps"})
	for range ctl.MaxClients {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	var out, errb bytes.Buffer
	code := run([]string{"status", "-socket", path}, &out, &errb)
	want := "gpsntpctl status: gpsntpd busy: 8 clients connected, try again\n"
	if code != 1 || errb.String() != want {
		t.Errorf("status with %d idle clients: exit %d, stderr %q; want 1, %q", ctl.MaxClients, code, errb.String(), want)
	}
}

// gpsntpctl status puts the daemon's alarms first, one ALARM: line each.
func TestStatusShowsAlarms(t *testing.T) {
	path := daemon(t, &ctl.Snapshot{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), State: "gps",
		Alarms: []string{"PPS configured on gpio 18 but no pulses for 30 s: check wiring / dtoverlay / antenna"}})
	var out, errb bytes.Buffer
	if code := run([]string{"status", "-socket", path}, &out, &errb); code != 0 {
		t.Fatalf("status: exit %d, %s", code, errb.String())
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[1], "ALARM: PPS configured on gpio 18 but no pulses for 30 s") ||
		!strings.Contains(out.String(), "antenna") {
		t.Errorf("status output:\n%s\nwant the alarm, whole, on the second line", out.String())
	}
}
