package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
)

// upstreamOffsetNs is how far ahead of the host clock the upstream
// daemons of TestEndToEndUpstreamViews serve: clearly measurable, and
// under the 128 ms below which upstreams and GPS are not said to disagree,
// so the daemon under test keeps serving its own GPS/PPS (host) time.
const upstreamOffsetNs = 50e6

// Seeing the upstreams, end to end over real UDP: a gpsntpd -sim whose
// config names two other gpsntpd -sim (serving host time + 50 ms) and a
// port where nothing answers. gpsntpctl sources shows the two as selected
// (* and +), with reach, and our offset to them, about -50 ms (our clock
// is behind theirs: the snapshot's sign, not ntpq's); the third with reach
// 0 and "no reply". gpsntpctl status (and -json) has the upstream line,
// and /metrics the per-source series.
func TestEndToEndUpstreamViews(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: three daemons")
	}
	t.Parallel()
	var good []*daemon
	for range 2 {
		good = append(good, startDaemon(t, "-control", "none", "-status-interval", "0", "-sim-offset", "50ms"))
	}
	for _, d := range good {
		waitSynced(t, d, "PPS", 120*time.Second)
	}
	remote := func(d *daemon) string { return d.addr } // 127.0.0.1:PORT: not 123, so the port is shown
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))

	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	metrics := freeTCP(t)
	var conf strings.Builder
	fmt.Fprintf(&conf, "control %s\nmetrics %s\n", sock, metrics)
	for _, a := range []string{remote(good[0]), remote(good[1]), dead} {
		_, port, _ := strings.Cut(a, ":")
		fmt.Fprintf(&conf, "server 127.0.0.1 port %s iburst\n", port)
	}
	confPath := filepath.Join(dir, "gpsntp.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, "-config", confPath, "-status-interval", "0", "-sim-offset", "0")

	// The iburst: six polls 2 s apart. Wait until both good servers are
	// selected and the dead one has been polled without a reply.
	row := func(s *ctl.Snapshot, remote string) (ctl.Source, bool) {
		for _, r := range s.Sources {
			if r.Remote == remote {
				return r, true
			}
		}
		return ctl.Source{}, false
	}
	var s *ctl.Snapshot
	ready := func() bool {
		var err error
		if s, err = ctl.Fetch(sock, 3*time.Second); err != nil {
			return false
		}
		tallies := ""
		for _, d := range good {
			r, ok := row(s, remote(d))
			if !ok || r.Reach == 0 {
				return false
			}
			tallies += r.Tally
		}
		r, ok := row(s, dead)
		return ok && r.Note == "no reply" && (tallies == "*+" || tallies == "+*") && s.Upstream != nil && s.Upstream.OK
	}
	for start := time.Now(); !ready(); time.Sleep(time.Second) {
		if time.Since(start) > 120*time.Second {
			var b strings.Builder
			if s != nil {
				ctl.Render(&b, "sources", s)
			}
			t.Fatalf("within 120 s, the two servers were not both selected with the third unanswered:\n%s", b.String())
		}
	}

	ctlRun := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(gpsntpctlBinary(t), append(args, "-socket", sock)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gpsntpctl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	// gpsntpctl sources: the rows as ntpq -p draws them.
	src := ctlRun("sources")
	t.Logf("gpsntpctl sources:\n%s", src)
	for _, re := range []string{
		`(?m)^[*+]` + regexp.QuoteMeta(remote(good[0])) + ` +\.PPS\. +1 u +\d+ +\d+ +[1-7][0-7]* `,
		`(?m)^[*+]` + regexp.QuoteMeta(remote(good[1])) + ` +\.PPS\. +1 u +\d+ +\d+ +[1-7][0-7]* `,
		`(?m)^ ` + regexp.QuoteMeta(dead) + ` +\.INIT\. +16 u +- +\d+ +0 `,
		`(?m)^` + regexp.QuoteMeta(dead) + `: no reply$`,
		`(?m)^upstream 2 of 3 agree: offset -`,
	} {
		if !regexp.MustCompile(re).MatchString(src) {
			t.Errorf("gpsntpctl sources does not match %s:\n%s", re, src)
		}
	}
	// Our clock is 50 ms behind theirs: -50 ms in the snapshot's sign.
	for _, d := range good {
		if r, _ := row(s, remote(d)); math.Abs(r.OffsetNs+upstreamOffsetNs) > 10e6 || r.DelayNs <= 0 || r.WhenS < 0 {
			t.Errorf("row %s: offset %.3f ms, delay %.3f ms, when %d s; want offset -50 ms (ours minus theirs) ± 10 ms, a delay, a when",
				r.Remote, r.OffsetNs/1e6, r.DelayNs/1e6, r.WhenS)
		}
	}

	// gpsntpctl status and status -json: the upstream summary.
	if st := ctlRun("status"); !regexp.MustCompile(`(?m)^upstream 2 of 3 agree: offset -[0-9.]+ms \+/-[0-9.]+[mun]?s, st 2 via 127\.0\.0\.1:\d+$`).MatchString(st) {
		t.Errorf("gpsntpctl status has no upstream line:\n%s", st)
	}
	var js struct {
		Upstream *ctl.UpstreamStatus `json:"upstream"`
	}
	out := ctlRun("status", "-json")
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("gpsntpctl status -json: %v\n%s", err, out)
	}
	if u := js.Upstream; u == nil || !u.OK || u.Truechimers != 2 || u.Sources != 3 || u.Reachable != 2 || u.Stratum != 2 ||
		u.MinSane != 2 || math.Abs(u.OffsetNs+upstreamOffsetNs) > 10e6 || u.ErrorNs <= 0 ||
		(u.SystemPeer != remote(good[0]) && u.SystemPeer != remote(good[1])) || u.RefID != "127.0.0.1" {
		t.Errorf("gpsntpctl status -json: upstream = %+v; want ok, 2 truechimers of 3 sources, 2 reachable, stratum 2, offset about -50 ms, system peer one of the two, refid 127.0.0.1", u)
	}

	// /metrics: the per-source series.
	mf := scrape(t, "http://"+metrics+"/metrics")
	for _, d := range good {
		a := remote(d)
		if v := value(t, mf, "gpsntp_upstream_reach", "addr", a); v < 1 || v > 255 {
			t.Errorf("gpsntp_upstream_reach{addr=%s} = %v, want 1-255", a, v)
		}
		if v := value(t, mf, "gpsntp_upstream_selected", "addr", a); v != 1 {
			t.Errorf("gpsntp_upstream_selected{addr=%s} = %v, want 1", a, v)
		}
		if v := value(t, mf, "gpsntp_upstream_offset_seconds", "addr", a); math.Abs(v+upstreamOffsetNs/1e9) > 10e-3 {
			t.Errorf("gpsntp_upstream_offset_seconds{addr=%s} = %v, want -0.050 ± 0.010", a, v)
		}
		for _, name := range []string{"gpsntp_upstream_delay_seconds", "gpsntp_upstream_jitter_seconds", "gpsntp_upstream_drops_total"} {
			value(t, mf, name, "addr", a) // present
		}
	}
	if v := value(t, mf, "gpsntp_upstream_reach", "addr", dead); v != 0 {
		t.Errorf("gpsntp_upstream_reach{addr=%s} = %v, want 0", dead, v)
	}
	if v := value(t, mf, "gpsntp_upstream_selected", "addr", dead); v != 0 {
		t.Errorf("gpsntp_upstream_selected{addr=%s} = %v, want 0", dead, v)
	}
	if v := value(t, mf, "gpsntp_upstream_ok"); v != 1 {
		t.Errorf("gpsntp_upstream_ok = %v, want 1", v)
	}
	if v := value(t, mf, "gpsntp_upstream_truechimers"); v != 2 {
		t.Errorf("gpsntp_upstream_truechimers = %v, want 2", v)
	}
}
