package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches url and parses it as a Prometheus scrape.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	return parseMetrics(t, b.Bytes())
}

func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return mf
}

// value is the metric's value, for the series with label name=val if given.
func value(t *testing.T, mf map[string]*dto.MetricFamily, name string, label ...string) float64 {
	t.Helper()
	f, ok := mf[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
	for _, m := range f.Metric {
		if len(label) == 2 {
			match := false
			for _, l := range m.Label {
				if l.GetName() == label[0] && l.GetValue() == label[1] {
					match = true
				}
			}
			if !match {
				continue
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
	}
	t.Fatalf("/metrics: no %s%v", name, label)
	return 0
}

func TestMetricsFromSnapshot(t *testing.T) {
	s := &ctl.Snapshot{
		State: "pps", Synchronised: true, Stratum: 1, OffsetNs: -250, JitterNs: 1500, FreqPPB: 37000,
		PPS:    ctl.PPSStatus{Configured: true, Edges: 120, Missed: 2, LastEdgeAgoS: 0.5},
		GPS:    ctl.GPSStatus{DeviceState: "open", SatsUsed: 9, SatsInView: 14, Distrusted: 4},
		Alarms: []string{"receiver time is 1 h ahead", "PPS device /dev/pps0 cannot be opened"},
		Server: ctl.ServerStats{Counts: ntpserve.Stats{Received: 10, Outcomes: [ntpserve.NumOutcomes]uint64{
			ntpserve.OutReply: 6, ntpserve.OutReplyUnsync: 1, ntpserve.OutKoD: 1, ntpserve.OutDropRate: 2}}},
	}
	srv := httptest.NewServer(metricsHandler(func() *ctl.Snapshot { return s }))
	defer srv.Close()
	mf := scrape(t, srv.URL)
	for _, c := range []struct {
		name  string
		label []string
		want  float64
	}{
		{"gpsntp_offset_seconds", nil, -250e-9},
		{"gpsntp_jitter_seconds", nil, 1.5e-6},
		{"gpsntp_frequency_ppm", nil, 37},
		{"gpsntp_state", []string{"state", "pps"}, 1},
		{"gpsntp_state", []string{"state", "holdover"}, 0},
		{"gpsntp_synchronised", nil, 1},
		{"gpsntp_pps_edges_total", nil, 120},
		{"gpsntp_pps_missed_total", nil, 2},
		{"gpsntp_satellites_used", nil, 9},
		{"gpsntp_gps_device_up", nil, 1},
		{"gpsntp_ntp_requests_total", []string{"outcome", "replied"}, 6},
		{"gpsntp_ntp_requests_total", []string{"outcome", "kod"}, 1},
		{"gpsntp_ntp_rate_limited_total", nil, 3},
		{"gpsntp_gps_times_distrusted_total", nil, 4},
		{"gpsntp_alarms", nil, 2},
	} {
		if got := value(t, mf, c.name, c.label...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.label, got, c.want)
		}
	}
	// Every packet has exactly one outcome.
	var sum float64
	for _, m := range mf["gpsntp_ntp_requests_total"].Metric {
		sum += m.Counter.GetValue()
	}
	if sum != 10 {
		t.Errorf("sum of gpsntp_ntp_requests_total = %v, want received 10", sum)
	}
}

func TestEffectiveCaps(t *testing.T) {
	st := "Name:\tgpsntpd\nCapInh:\t0000000000000000\nCapEff:\t0000000002000400\n"
	got, err := effectiveCaps(strings.NewReader(st))
	if err != nil || got&(1<<capSysTime) == 0 || got&(1<<capNetBindService) == 0 {
		t.Errorf("effectiveCaps = %x, %v, want CAP_SYS_TIME and CAP_NET_BIND_SERVICE set", got, err)
	}
	if _, err := effectiveCaps(strings.NewReader("Name:\tx\n")); err == nil {
		t.Error("effectiveCaps without CapEff = nil error")
	}
	lo, hi := capMask(capSysTime, capNetBindService, 40)
	if lo != 1<<25|1<<10 || hi != 1<<8 {
		t.Errorf("capMask = %x %x", lo, hi)
	}
	if _, _, err := lookupTarget("no-such-user-gpsntp-test"); err == nil {
		t.Error("lookupTarget(configured, missing) = nil error, want one")
	}
	if _, ok, err := lookupTarget(""); err != nil || (ok && defaultServiceUser != "gpsntp") {
		t.Errorf("lookupTarget(default) = %v, %v", ok, err)
	}
	// A numeric uid without a passwd entry (gokrazy) is taken as it is.
	if tg, ok, err := lookupTarget("54321"); err != nil || !ok || tg.uid != 54321 || tg.gid != 54321 {
		t.Errorf("lookupTarget(54321) = %+v, %v, %v; want uid and gid 54321", tg, ok, err)
	}
}

// ctlBinary builds gpsntpctl once.
var (
	ctlOnce sync.Once
	ctlPath string
	ctlErr  error
)

func gpsntpctlBinary(t *testing.T) string {
	t.Helper()
	ctlOnce.Do(func() {
		ctlPath = filepath.Join(filepath.Dir(daemonBinary(t)), "gpsntpctl")
		out, err := exec.Command("go", "build", "-o", ctlPath, "../gpsntpctl").CombinedOutput()
		if err != nil {
			ctlErr = fmt.Errorf("go build gpsntpctl: %v\n%s", err, out)
		}
	})
	if ctlErr != nil {
		t.Fatal(ctlErr)
	}
	return ctlPath
}

func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var escapes = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// The operator's side of a running daemon: gpsntpctl over the control
// socket, the console on a real pty, /metrics, SIGHUP reload, SIGTERM.
func TestOperatorInterfaces(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	t.Parallel()
	term := newTerminal(t)
	master, slave := term.master, term.slave
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	metrics := freeTCP(t)
	conf := filepath.Join(dir, "gpsntp.conf")
	base := fmt.Sprintf("control %s\nmetrics %s\nserver time.example.net iburst\nrestrict default kod limited\n", sock, metrics)
	os.WriteFile(conf, []byte(base+"console "+slave.Name()+"\n"), 0o644)
	d := startDaemon(t, "-config", conf)

	waitFor := func(what string, f func() bool) {
		t.Helper()
		for start := time.Now(); !f(); time.Sleep(100 * time.Millisecond) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	screenText := func() string {
		return escapes.ReplaceAllString(string(term.drawn()), "\n")
	}
	ctlRun := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(gpsntpctlBinary(t), append(args, "-socket", sock)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gpsntpctl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	// Synchronised to PPS, as the console and gpsntpctl say.
	waitFor("the console to show state PPS", func() bool { return strings.Contains(screenText(), "state   PPS (synchronised)") })
	st := ctlRun("status")
	if !strings.Contains(st, "refid PPS  stratum 1") || !strings.Contains(st, "PPS     sim: edges") {
		t.Errorf("gpsntpctl status:\n%s", st)
	}
	src := ctlRun("sources")
	for _, re := range []string{`(?m)^oPPS\(0\) +\.PPS\. +0 l +\d+ +1 +[0-7]+ `, `(?m)^.GPS_NMEA\(0\) +\.GPS\. +0 l `,
		`(?m)^ time\.example\.ne +\.INIT\. +16 u +- +64 +0 `, `configured, not queried`} {
		if !regexp.MustCompile(re).MatchString(src) {
			t.Errorf("gpsntpctl sources does not match %s:\n%s", re, src)
		}
	}
	if js := ctlRun("sats", "-json"); !strings.Contains(js, `"prn"`) || !strings.Contains(js, `"snr_dbhz"`) {
		t.Errorf("gpsntpctl sats -json:\n%s", js)
	}
	if cl := ctlRun("clients"); !strings.Contains(cl, "top talkers: none") && !strings.Contains(cl, "  client ") {
		t.Errorf("gpsntpctl clients:\n%s", cl)
	}

	// The console: type a command, read the screen.
	master.Write([]byte("sats\r"))
	waitFor("the sats table on the console", func() bool { return strings.Contains(screenText(), "PRN  elev  azim  SNR  used") })
	master.Write([]byte("\r"))

	// /metrics parses, and says what the daemon says.
	mf := scrape(t, "http://"+metrics+"/metrics")
	if v := value(t, mf, "gpsntp_state", "state", "pps"); v != 1 {
		t.Errorf("gpsntp_state{state=pps} = %v, want 1", v)
	}
	if v := value(t, mf, "gpsntp_pps_edges_total"); v < 5 {
		t.Errorf("gpsntp_pps_edges_total = %v, want ≥ 5", v)
	}
	if v := value(t, mf, "gpsntp_satellites_used"); v < 4 {
		t.Errorf("gpsntp_satellites_used = %v, want ≥ 4", v)
	}

	logHas := func(s string) func() bool {
		return func() bool { d.mu.Lock(); defer d.mu.Unlock(); return strings.Contains(d.log.String(), s) }
	}
	// SIGHUP: the console goes and the restrict lines change, both at once;
	// a new listen address needs a restart.
	os.WriteFile(conf, []byte(strings.Replace(base, "kod limited", "kod limited nopeer", 1)+fmt.Sprintf("listen 127.0.0.1:%d\n", freePort(t))), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor("the reload to be logged", logHas("applied=restrict,console needs_restart=listen/interface"))
	// A broken file changes nothing, and says where it is broken.
	os.WriteFile(conf, []byte(base+"frobnicate\n"), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor("the failed reload to be logged", logHas(`config reload failed; running configuration unchanged" file=`+conf))
	if !logHas(conf + ":5: frobnicate: unknown directive")() {
		t.Errorf("failed reload does not name file:line:\n%s", d.log.String())
	}
	// The log view has the events.
	if lg := ctlRun("log"); !strings.Contains(lg, "state change from=unsync to=pps") || !strings.Contains(lg, "config reload failed") {
		t.Errorf("gpsntpctl log:\n%s", lg)
	}
	// SIGTERM: exit status 0 (SIGINT is checked by startDaemon's cleanup).
	if err := d.stop(syscall.SIGTERM); err != nil {
		t.Error(err)
	}
}

func TestCheckConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon")
	}
	out, err := exec.Command(daemonBinary(t), "-check-config", checkableExample(t)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Errorf("gpsntpd -check-config examples/gpsntp.conf = %v\n%s", err, out)
	}
	// No file at all: said, not "ok" (it printed ": ok").
	out, err = exec.Command(daemonBinary(t), "-check-config").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "no configuration file") {
		t.Errorf("gpsntpd -check-config without a file: %v\n%s\nwant exit status 2 saying there is no file", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("board pi99\nrestrict default frobnicate\ngps /dev/serial0 receiver sirf\n"), 0o644)
	out, err = exec.Command(daemonBinary(t), "-check-config", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("gpsntpd -check-config bad.conf: %v, want exit status 2", err)
	}
	for _, want := range []string{bad + ":1: board pi99: unknown board", bad + ":2: restrict:", bad + ":3: gps: unknown receiver \"sirf\""} {
		if !strings.Contains(string(out), want) {
			t.Errorf("gpsntpd -check-config bad.conf output lacks %q:\n%s", want, out)
		}
	}
}

// An epoch without satellites (a burst cut in two under load) does not
// blank the sky view for the seconds the last full epoch is fresh; a
// receiver that has really lost its sky shows none once that has passed.
func TestSkyHeldOverSplitEpochs(t *testing.T) {
	full := gps.Fix{SatsUsed: 9, SatsInView: 14, Satellites: []gps.Satellite{{PRN: 5, SNRdBHz: 40, Used: true}}}
	split := gps.Fix{}
	c := newCollector(time.Unix(0, 0), nil)
	for _, step := range []struct {
		name       string
		f          gps.Fix
		atNs       int64
		wantInView int
	}{
		{"full epoch", full, 1e9, 14},
		{"split epoch 1 s later", split, 2e9, 14},
		{"split epoch 11 s after the full one", split, 12e9, 0},
		{"full again", full, 13e9, 14},
	} {
		if got := c.skyOf(step.f, step.atNs); got.SatsInView != step.wantInView {
			t.Errorf("%s: skyOf shows %d satellites in view, want %d", step.name, got.SatsInView, step.wantInView)
		}
	}
}
