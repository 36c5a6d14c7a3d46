package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSeedRecipe(t *testing.T) {
	src := `# the classic recipe
driftfile /var/lib/ntp/ntp.drift
restrict default nomodify notrap nopeer noquery kod limited
restrict 127.0.0.1
restrict ::1
server 0.pool.ntp.org iburst
gps /dev/serial0 baud 9600 receiver ublox   # trailing comment
pps gpio 18
board auto
clock soft
holdover 2h maxerror 1ms
metrics 127.0.0.1:9123
listen 127.0.0.1:12300
interface listen ::1
ppsoffset 11us
nmeadelay 120ms
`
	c, err := Parse("test.conf", strings.NewReader(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.DriftFile != "/var/lib/ntp/ntp.drift" || len(c.Restricts) != 3 || c.Restricts[0].Pos != "test.conf:3" {
		t.Errorf("driftfile/restrict = %q %+v", c.DriftFile, c.Restricts)
	}
	if c.GPS != (GPS{Device: "/dev/serial0", Baud: 9600, Receiver: "ublox"}) {
		t.Errorf("GPS = %+v", c.GPS)
	}
	if c.PPS.Kind != "gpio" || c.PPS.Pin != 18 {
		t.Errorf("PPS = %+v", c.PPS)
	}
	if c.HoldoverMax != 2*time.Hour || c.MaxError != time.Millisecond {
		t.Errorf("holdover = %v maxerror %v", c.HoldoverMax, c.MaxError)
	}
	if len(c.Listen) != 2 || c.Listen[1] != "[::1]:123" {
		t.Errorf("Listen = %v", c.Listen)
	}
	if c.PPSOffset != 11*time.Microsecond || c.NMEADelay != 120*time.Millisecond {
		t.Errorf("ppsoffset/nmeadelay = %v %v", c.PPSOffset, c.NMEADelay)
	}
	if len(c.Upstreams) != 1 || !c.Upstreams[0].IBurst {
		t.Errorf("Upstreams = %+v", c.Upstreams)
	}
}

func TestParseErrorsNameFileLine(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"frobnicate 1", "x.conf:1: frobnicate: unknown directive"},
		{"\n\ngps /dev/ttyS0 baud 1234", "x.conf:3: gps: expected baud"},
		{"pps gpio", "x.conf:1: pps: expected `pps none`"},
		{"pps gpio 99", "x.conf:1: pps: expected a GPIO line number"},
		{"clock atomic", "x.conf:1: clock: expected `clock soft` or `clock system`"},
		{"holdover 2h maxerror 1s", "x.conf:1: holdover: expected maxerror between 0 and 25ms"},
		{"holdover soon", "x.conf:1: holdover: expected `holdover DURATION"},
		{"server", "x.conf:1: server: expected `server HOST [iburst]`"},
		{"server a.example wibble", "x.conf:1: server: unknown option \"wibble\""},
		{"metrics localhost", "x.conf:1: metrics: expected `metrics ADDR:PORT`"},
		{"nmeadelay 2s", "x.conf:1: nmeadelay: expected a delay between 0 and 1s"},
		{"restrict", "x.conf:1: restrict: expected"},
		{"discard average", "x.conf:1: discard: expected"},
	} {
		_, err := Parse("x.conf", strings.NewReader(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error = %v, want containing %q", c.src, err, c.want)
		}
	}
}

func TestParseReportsEveryBadLine(t *testing.T) {
	_, err := Parse("x.conf", strings.NewReader("bogus\nclock soft\nalso-bogus\n"))
	if err == nil || !strings.Contains(err.Error(), "x.conf:1:") || !strings.Contains(err.Error(), "x.conf:3:") {
		t.Errorf("Parse error = %v, want both x.conf:1 and x.conf:3", err)
	}
}
