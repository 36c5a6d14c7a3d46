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

// gpsntpctl sources and status show the upstreams: the rows with their
// tallies and notes, and the summary line.
func TestViewsShowUpstreams(t *testing.T) {
	path := daemon(t, &ctl.Snapshot{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), State: "pps",
		Sources: []ctl.Source{
			{Tally: "*", Remote: "192.0.2.1", Host: "192.0.2.1", RefID: ".GPS.", Stratum: 1, Type: "u", WhenS: 7, PollS: 64, Reach: 0o377,
				DelayNs: 1.5e6, OffsetNs: -0.25e6, JitterNs: 0.1e6},
			{Tally: "x", Remote: "192.0.2.2", Host: "pool.example.org", RefID: ".GPS.", Stratum: 1, Type: "p", WhenS: 9, PollS: 64, Reach: 0o17,
				DelayNs: 2e6, OffsetNs: 1000e6},
			{Tally: " ", Remote: "192.0.2.3", Host: "192.0.2.3", RefID: ".INIT.", Stratum: 16, Type: "u", WhenS: -1, PollS: 64, Note: "no reply"},
		},
		Upstream: &ctl.UpstreamStatus{OK: true, Truechimers: 1, MinSane: 1, Sources: 3, Reachable: 2, OffsetNs: -0.25e6, ErrorNs: 2e6,
			Stratum: 2, RefID: "192.0.2.1", SystemPeer: "192.0.2.1"}})
	const summary = "upstream 1 of 3 agree: offset -250.000us +/-2.000ms, st 2 via 192.0.2.1"
	for _, c := range []struct {
		view string
		want []string
	}{
		{"sources", []string{
			"*192.0.2.1       .GPS.            1 u    7   64   377   1.500   -0.250   0.100\n",
			"x192.0.2.2       .GPS.            1 p    9   64    17   2.000 1000.000   0.000\n",
			" 192.0.2.3       .INIT.          16 u    -   64     0   0.000    0.000   0.000\n",
			"192.0.2.3: no reply\n", summary + "\n"}},
		{"status", []string{"\n" + summary + "\n"}},
	} {
		var out, errb bytes.Buffer
		if code := run([]string{c.view, "-socket", path}, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d, %s", c.view, code, errb.String())
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("gpsntpctl %s lacks %q:\n%s", c.view, w, out.String())
			}
		}
	}
}
