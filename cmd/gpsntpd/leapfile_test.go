package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/ctl"
)

// writeLeapFile writes a leap-seconds.list (the IERS format: NTP seconds,
// from 1900) whose `#@` expiry is expires, or whose line 3 is broken when
// expires is zero, and returns its path.
func writeLeapFile(t *testing.T, path string, expires time.Time) string {
	t.Helper()
	const ntpEpochOffsetS = 2_208_988_800
	body := "#\tleap-seconds.list for a test\n#@\t" + fmt.Sprint(expires.Unix()+ntpEpochOffsetS) + "\n3644697600\t36\t# 1 Jul 2015\n3692217600\t37\t# 1 Jan 2017\n"
	if expires.IsZero() {
		body = "#@\t4102444800\n3644697600\t36\n3692217600 thirty-seven\n"
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a log destination safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The leap file's expiry is an alarm from 30 days before it, and after it,
// judged at the served time the collector is given; each is logged once.
func TestLeapFileAlarm(t *testing.T) {
	const path = "/etc/gpsntp/leap-seconds.list"
	exp := time.Date(2027, 6, 28, 0, 0, 0, 0, time.UTC)
	const newer = "reboot with a newer one on the boot partition (tzdata or https://hpiers.obspm.fr/iers/bul/bulc/ntp/leap-seconds.list)"
	var logs syncBuffer
	c := newCollector(time.Now(), slog.New(slog.NewTextHandler(&logs, nil)))
	c.leapFile = &ctl.LeapFileStatus{Path: path, Expires: exp}
	c.leapAdvice = newer
	const expiring = "leap file " + path + " expires 2027-06-28 ("
	for _, step := range []struct {
		name string
		at   time.Time
		want string // "" no alarm
		// logged: the alarm is (newly) logged at this step
		logged bool
	}{
		{"a year before", exp.AddDate(-1, 0, 0), "", false},
		{"31 days before", exp.Add(-31 * 24 * time.Hour), "", false},
		{"30 days before", exp.Add(-30 * 24 * time.Hour), expiring + "in 30 days): " + newer, true},
		{"12 days before, not logged again", exp.Add(-12*24*time.Hour - time.Hour), expiring + "in 12 days): " + newer, false},
		{"the last hours", exp.Add(-time.Second), expiring + "within a day): " + newer, false},
		{"at expiry", exp, "leap file " + path + " expired 2027-06-28, leap seconds from the receiver only: " + newer, true},
		{"a year after", exp.AddDate(1, 0, 0), "leap file " + path + " expired 2027-06-28, leap seconds from the receiver only: " + newer, false},
	} {
		before := strings.Count(logs.String(), "msg=alarm ")
		// The host clock (nowNs) is irrelevant: a Pi boots in 1970.
		got := c.alarms(0, step.at.UnixNano(), &appliance{}, gps.Stats{}, discipline.Status{})
		switch {
		case step.want == "" && len(got) != 0:
			t.Errorf("%s: alarms = %q, want none", step.name, got)
		case step.want != "" && (len(got) != 1 || got[0] != step.want):
			t.Errorf("%s: alarms = %q, want [%q]", step.name, got, step.want)
		}
		if logged := strings.Count(logs.String(), "msg=alarm ") > before; logged != step.logged {
			t.Errorf("%s: alarm logged = %v, want %v; log:\n%s", step.name, logged, step.logged, logs.String())
		}
		// The built-in file's alarm fits the console's three alarm lines.
		if len(got) == 1 && strings.HasSuffix(strings.Join(ctl.AlarmLines(got[0]), ""), "...") {
			t.Errorf("%s: alarm cut on the console: %q", step.name, ctl.AlarmLines(got[0]))
		}
	}
	if !strings.Contains(logs.String(), "alarm cleared") {
		t.Errorf("expiring alarm not cleared when the expired one took over; log:\n%s", logs.String())
	}
	// No leap file, or one that names no expiry: nothing to warn of.
	for _, f := range []*ctl.LeapFileStatus{nil, {Path: path}} {
		c.leapFile = f
		if got := c.alarms(0, exp.UnixNano(), &appliance{}, gps.Stats{}, discipline.Status{}); len(got) != 0 {
			t.Errorf("leap file %+v: alarms = %q, want none", f, got)
		}
	}
}

// The daemon's choice among `leapfile` and -leapfile-extra: the one that
// expires last; missing extras are skipped quietly, broken ones with
// file:line; the choice and its expiry are logged and reach status.
func TestApplianceLeapTable(t *testing.T) {
	dir := t.TempDir()
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	builtin := writeLeapFile(t, filepath.Join(dir, "builtin.list"), day(2027, 6, 28))
	newer := writeLeapFile(t, filepath.Join(dir, "boot.list"), day(2028, 6, 28))
	older := writeLeapFile(t, filepath.Join(dir, "older.list"), day(2026, 12, 28))
	broken := writeLeapFile(t, filepath.Join(dir, "broken.list"), time.Time{})
	missing := filepath.Join(dir, "missing.list")
	onBoot := "reboot with a newer one on the boot partition (tzdata or " + leapFileURL + ")"
	for _, tc := range []struct {
		name     string
		leapfile string
		extra    []string
		want     string // "" none
		logs     []string
		advice   string
	}{
		{"configured only", builtin, nil, builtin, []string{"msg=\"leap file\" path=" + builtin + " expires=2027-06-28"}, "upgrade tzdata or replace the file, then restart gpsntpd"},
		{"a newer one on the boot partition", builtin, []string{missing, newer}, newer, []string{"path=" + newer + " expires=2028-06-28"}, onBoot},
		{"an older one is not used", builtin, []string{older}, builtin, []string{"path=" + builtin}, onBoot},
		{"a broken one is skipped", builtin, []string{broken}, builtin, []string{"leap file skipped", broken + ":3: want `NTP-seconds TAI-UTC`", "path=" + builtin}, onBoot},
		{"no leapfile, an extra", "", []string{newer}, newer, []string{"path=" + newer}, onBoot},
		{"none usable", missing, []string{broken}, "", []string{"msg=\"leap file unusable", "leapfile: open " + missing, broken + ":3:"}, onBoot},
		{"none at all", "", nil, "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			a := &appliance{o: options{leapfileExtra: tc.extra}, cfg: config.Config{LeapFile: tc.leapfile}, log: log, col: newCollector(time.Now(), log)}
			lt := a.leapTable()
			got := ""
			if a.col.leapFile != nil {
				got = a.col.leapFile.Path
			}
			if got != tc.want || (lt == nil) != (tc.want == "") {
				t.Errorf("leapTable() chose %q (table %v), want %q", got, lt != nil, tc.want)
			}
			for _, w := range tc.logs {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log does not say %q:\n%s", w, logs.String())
				}
			}
			if strings.Contains(logs.String(), "missing.list") && tc.leapfile != missing {
				t.Errorf("a missing extra file was logged:\n%s", logs.String())
			}
			if tc.want != "" && a.col.leapAdvice != tc.advice {
				t.Errorf("advice %q, want %q", a.col.leapAdvice, tc.advice)
			}
		})
	}
}

// The real daemon and gpsntpctl: of the configured leap file (expiring
// in 5 days), a broken and a newer one given with -leapfile-extra (as
// gpsntp-boot passes them), the newer is used, and status shows it and
// the alarm of its expiry 20 days ahead.
func TestEndToEndLeapFileOverride(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	// A short directory: status lines are cut at 79 columns.
	dir, err := os.MkdirTemp("", "lf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	now := time.Now().UTC()
	// Expiries half a day off whole days (an IERS file's are at 00:00
	// UTC) so that the days left are the same throughout the test.
	soon := now.Add(5*24*time.Hour + 12*time.Hour).Truncate(time.Second)
	later := now.Add(20*24*time.Hour + 12*time.Hour).Truncate(time.Second)
	builtin := writeLeapFile(t, filepath.Join(dir, "etc.list"), soon)
	broken := writeLeapFile(t, filepath.Join(dir, "perm.list"), time.Time{})
	boot := writeLeapFile(t, filepath.Join(dir, "boot.list"), later)
	sock := filepath.Join(dir, "ctl.sock")
	conf := filepath.Join(dir, "gpsntp.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("leapfile %s\ncontrol %s\n", builtin, sock)), 0o644)
	d := startDaemon(t, "-config", conf, "-status-interval", "0", "-leapfile-extra", boot+","+broken)

	wantLine := fmt.Sprintf("leapfile expires %s (in 20 days): %s", later.Format(time.DateOnly), boot)
	wantAlarm := fmt.Sprintf("ALARM: leap file %s expires %s (in 20 days): reboot with a newer one on the boot partition", boot, later.Format(time.DateOnly))
	var out []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		out, err = exec.Command(gpsntpctlBinary(t), "status", "-socket", sock).CombinedOutput()
		flat := strings.Join(strings.Fields(string(out)), " ")
		if err == nil && strings.Contains(flat, wantLine) && strings.Contains(flat, wantAlarm) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gpsntpctl status (err %v):\n%s\nwant %q and %q", err, out, wantLine, wantAlarm)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("gpsntpctl status:\n%s", out)
	d.mu.Lock()
	log := d.log.String()
	d.mu.Unlock()
	for _, want := range []string{
		broken + ":3: want `NTP-seconds TAI-UTC`",
		fmt.Sprintf("msg=\"leap file\" path=%s expires=%s", boot, later.Format(time.DateOnly)),
		"msg=alarm alarm=\"leap file " + boot,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("daemon log does not say %q:\n%s", want, tail(log, 40))
		}
	}
	// And in JSON, for monitoring.
	out, err = exec.Command(gpsntpctlBinary(t), "status", "-json", "-socket", sock).CombinedOutput()
	flat := strings.Join(strings.Fields(string(out)), "") // indented
	if want := fmt.Sprintf(`"leap_file":{"path":%q,"expires":"%s"}`, boot, later.Format(time.RFC3339)); err != nil || !strings.Contains(flat, want) {
		t.Errorf("gpsntpctl status -json: %v, want %s in:\n%s", err, want, out)
	}
}
