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
		{"server", "x.conf:1: server: expected `server HOST [port N] [iburst]"},
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

func TestParseEveryDirective(t *testing.T) {
	for _, c := range []struct {
		line  string
		check func(c Config) bool
	}{
		{"gps /dev/ttyUSB0 baud auto", func(c Config) bool { return c.GPS == GPS{Device: "/dev/ttyUSB0"} }},
		{"gps /dev/serial0 receiver mtk3339 baud 38400", func(c Config) bool {
			return c.GPS == GPS{Device: "/dev/serial0", Baud: 38400, Receiver: "mtk3339"}
		}},
		// auto: the board and HAT the daemon runs on decide.
		{"gps auto receiver ublox", func(c Config) bool { return c.GPS == GPS{Device: Auto, Baud: 9600, Receiver: "ublox"} }},
		{"pps gpio auto falling", func(c Config) bool { return c.PPS == PPS{Kind: "gpio", Pin: PinAuto, Falling: true} }},
		{"console auto baud 9600", func(c Config) bool { return c.Console == Console{Device: Auto, Baud: 9600} }},
		{"pps none", func(c Config) bool { return c.PPS.Kind == "none" }},
		{"pps /dev/pps0 clear", func(c Config) bool { return c.PPS == PPS{Kind: "kernel", Device: "/dev/pps0", Falling: true} }},
		{"pps gpio 18 chip pinctrl-rp1 falling", func(c Config) bool {
			return c.PPS == PPS{Kind: "gpio", Pin: 18, Chip: "pinctrl-rp1", Falling: true}
		}},
		{"pps dcd", func(c Config) bool { return c.PPS.Kind == "dcd" }},
		{"board pi5", func(c Config) bool { return c.Board == "pi5" }},
		{"clock system", func(c Config) bool { return c.Clock == "system" }},
		{"listen :123", func(c Config) bool { return len(c.Listen) == 1 && c.Listen[0] == ":123" }},
		{"interface listen 192.0.2.1", func(c Config) bool { return c.Listen[0] == "192.0.2.1:123" }},
		{"restrict default kod limited", func(c Config) bool { return len(c.Restricts) == 1 && c.Restricts[0].Pos == "t.conf:1" }},
		{"discard average 4 minimum 1", func(c Config) bool { return len(c.Discard) == 4 && c.DiscardPos == "t.conf:1" }},
		{"driftfile /var/lib/gpsntp/drift", func(c Config) bool { return c.DriftFile == "/var/lib/gpsntp/drift" }},
		{"leapfile /etc/leap-seconds.list", func(c Config) bool { return c.LeapFile == "/etc/leap-seconds.list" }},
		{"pool 2.pool.ntp.org iburst", func(c Config) bool {
			return c.Upstreams[0] == Upstream{Pool: true, Host: "2.pool.ntp.org", Port: 123, IBurst: true, MinPoll: 6, MaxPoll: 10, MaxSources: 4, Pos: "t.conf:1"}
		}},
		{"server a.example prefer", func(c Config) bool {
			return c.Upstreams[0] == Upstream{Host: "a.example", Port: 123, Prefer: true, MinPoll: 6, MaxPoll: 10, Pos: "t.conf:1"}
		}},
		{"minsane 3", func(c Config) bool { return c.MinSane == 3 }},
		{"fallback off", func(c Config) bool { return !c.Fallback }},
		{"console /dev/ttyAMA0", func(c Config) bool { return c.Console == Console{Device: "/dev/ttyAMA0", Baud: 115200} }},
		{"console /dev/ttyS0 baud 9600", func(c Config) bool { return c.Console == Console{Device: "/dev/ttyS0", Baud: 9600} }},
		{"console -", func(c Config) bool { return c.Console.Device == "-" }},
		{"control /run/x.sock", func(c Config) bool { return c.Control == "/run/x.sock" }},
		{"control none", func(c Config) bool { return c.Control == "none" }},
		{"metrics [::1]:9123", func(c Config) bool { return c.Metrics == "[::1]:9123" }},
		{"user gpsntp", func(c Config) bool { return c.User == "gpsntp" }},
		{"holdover 30m", func(c Config) bool { return c.HoldoverMax == 30*time.Minute && c.MaxError == time.Millisecond }},
		{"ppsoffset -5us", func(c Config) bool { return c.PPSOffset == -5*time.Microsecond }},
		{"nmeadelay 0s", func(c Config) bool { return c.NMEADelay == 0 }},
		{"step 1s", func(c Config) bool { return c.Step == time.Second }},
	} {
		cfg, err := Parse("t.conf", strings.NewReader(c.line))
		if err != nil {
			t.Errorf("Parse(%q) = %v", c.line, err)
			continue
		}
		if !c.check(cfg) {
			t.Errorf("Parse(%q) = %+v: not what the line says", c.line, cfg)
		}
		if cfg.Pos[strings.Fields(c.line)[0]] != "t.conf:1" {
			t.Errorf("Parse(%q).Pos = %v, want t.conf:1", c.line, cfg.Pos)
		}
	}
}

func TestParseNewDirectiveErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"console", "x.conf:1: console: expected `console DEVICE [baud N]`"},
		{"console ttyAMA0", "x.conf:1: console: expected `console DEVICE [baud N]`"},
		{"console Auto", "x.conf:1: console: expected `console DEVICE [baud N]`"},
		{"gps Auto", "x.conf:1: gps: expected `gps DEVICE|auto [baud N|auto] [receiver NAME]` (DEVICE a path such as /dev/ttyAMA0, or auto for the board's header UART), got \"Auto\""},
		{"gps ttyAMA0 baud 9600", "x.conf:1: gps: expected `gps DEVICE|auto"},
		{"pps gpio automatic", "x.conf:1: pps: expected a GPIO line number 0–63 or auto, got \"automatic\""},
		{"console /dev/ttyAMA0 baud 1", "x.conf:1: console: expected `baud 9600|"},
		{"control relative.sock", "x.conf:1: control: expected `control /ABSOLUTE/PATH.sock` or `control none`"},
		{"user", "x.conf:1: user: expected `user NAME`"},
		{"user a;b", "x.conf:1: user: expected `user NAME`"},
		{"metrics 127.0.0.1:0", "x.conf:1: metrics: expected `metrics ADDR:PORT`"},
		{"driftfile", "x.conf:1: driftfile: expected one argument"},
		{"step -1s", "x.conf:1: step: expected a positive duration"},
		{"ppsoffset fast", "x.conf:1: ppsoffset: expected a duration"},
		{"interface listen eth0", "x.conf:1: interface: expected an IP address"},
		{"listen nowhere", "x.conf:1: listen: expected `listen ADDR:PORT`"},
		{"board", "x.conf:1: board: expected `board auto`"},
	} {
		_, err := Parse("x.conf", strings.NewReader(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error = %v, want containing %q", c.src, err, c.want)
		}
	}
}

// The example shipped in the repository parses, and uses every directive.
func TestExampleConfig(t *testing.T) {
	c, err := Load("../examples/gpsntp.conf")
	if err != nil {
		t.Fatalf("Load(examples/gpsntp.conf) = %v", err)
	}
	for _, d := range Directives {
		if _, ok := c.Pos[d]; !ok {
			t.Errorf("examples/gpsntp.conf does not show directive %q", d)
		}
	}
}

func TestDirectivesAreKnown(t *testing.T) {
	for _, d := range Directives {
		_, err := Parse("x.conf", strings.NewReader(d))
		if err != nil && strings.Contains(err.Error(), "unknown directive") {
			t.Errorf("Parse(%q) = %v: listed in Directives but unknown to the parser", d, err)
		}
	}
}

// Each configuration mistake of issue 10 that the parser can see is
// rejected at its file:line, saying what was expected or what to use
// instead.
// ntpd's `tinker` words that mean the same here.
func TestTinker(t *testing.T) {
	for _, c := range []struct {
		src                 string
		stepOut, panic, stp time.Duration
	}{
		{"", 300 * time.Second, 1000 * time.Second, 128 * time.Millisecond},
		{"tinker stepout 900", 900 * time.Second, 1000 * time.Second, 128 * time.Millisecond},
		{"tinker panic 0 stepout 60", 60 * time.Second, -1, 128 * time.Millisecond},
		{"tinker panic 3600 step 0.5", 300 * time.Second, time.Hour, 500 * time.Millisecond},
	} {
		cfg, err := Parse("x.conf", strings.NewReader(c.src))
		if err != nil {
			t.Errorf("Parse(%q): %v", c.src, err)
			continue
		}
		if cfg.StepOut != c.stepOut || cfg.Panic != c.panic || cfg.Step != c.stp {
			t.Errorf("Parse(%q): stepout %v panic %v step %v, want %v %v %v", c.src, cfg.StepOut, cfg.Panic, cfg.Step, c.stepOut, c.panic, c.stp)
		}
	}
}

func TestParseRejectsWithFileLine(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"two gps lines", "gps /dev/ttyS0\nclock soft\ngps /dev/ttyUSB0",
			"x.conf:3: gps: given twice (first at x.conf:1): gpsntpd reads one receiver"},
		{"two driftfiles", "driftfile /a\ndriftfile /b", "x.conf:2: driftfile: given twice (first at x.conf:1)"},
		{"listen port not a number", "listen :abc", "x.conf:1: listen: expected `listen ADDR:PORT` (ADDR an IP address literal, [ADDR] for IPv6, or nothing for every address; PORT 1-65535), got \":abc\": port \"abc\" is not a number 1-65535"},
		{"listen port too big", "listen :99999", "x.conf:1: listen: expected `listen ADDR:PORT`"},
		{"listen port negative", "listen :-1", `port "-1" is not a number 1-65535`},
		{"listen empty port", "listen :", `x.conf:1: listen: expected ` + "`listen ADDR:PORT`" + ` (ADDR an IP address literal, [ADDR] for IPv6, or nothing for every address; PORT 1-65535), got ":": port "" is not a number`},
		{"listen port 0", "listen 127.0.0.1:0", `port "0" is not a number 1-65535`},
		{"listen named port", "listen :ntp", `port "ntp" is not a number 1-65535`},
		{"listen host name", "listen localhost:123", `address "localhost" is not an IP address literal`},
		{"listen bad IPv6", "listen ::1:123", "not ADDR:PORT (IPv6 as [::1]:123)"},
		{"listen no port", "listen 127.0.0.1", "not ADDR:PORT"},
		{"metrics port too big", "metrics 127.0.0.1:70000", `x.conf:1: metrics: expected ` + "`metrics ADDR:PORT`" + ` (ADDR an IP address literal`},
		{"metrics empty port", "metrics 127.0.0.1:", `port "" is not a number 1-65535`},
		{"metrics host name", "metrics localhost:9123", `address "localhost" is not an IP address literal`},
		{"typo driftfle", "driftfle /var/lib/gpsntp/drift", "x.conf:1: driftfle: unknown directive; did you mean `driftfile`?"},
		{"typo restict", "restict default ignore", "x.conf:1: restict: unknown directive; did you mean `restrict`?"},
		{"typo swapped letters", "ppsofsfet 1us", "did you mean `ppsoffset`?"},
		{"typo capitals", "GPS /dev/ttyS0", "did you mean `gps`?"},
		{"ntpd NMEA refclock", "server 127.127.20.0 mode 17", "x.conf:1: server: 127.127.20.0 is ntpd's refclock address of driver 20, NMEA GPS, unit 0; gpsntpd has no refclock drivers: use `gps DEVICE"},
		{"ntpd PPS refclock", "server 127.127.22.1 minpoll 4", "driver 22, PPS (ATOM), unit 1; gpsntpd has no refclock drivers: use `pps /dev/ppsN [clear]`"},
		{"ntpd SHM refclock", "server 127.127.28.0", "SHM (shared memory, from gpsd)"},
		{"ntpd other refclock", "pool 127.127.8.0", "127.127.8.0 is ntpd's refclock address of driver 8, unit 0 (127.127.t.u addresses are ntpd's)"},
		{"fudge time2", "fudge 127.127.20.0 time2 0.350 refid GPS", "x.conf:1: fudge: ntpd's refclock calibration, not a gpsntpd directive: time2 (NMEA end-of-line delay) is `nmeadelay 350ms`; refid: gpsntpd sends PPS or GPS"},
		{"fudge time1", "fudge 127.127.22.0 time1 0.000011 flag2 1", "time1 (PPS offset) is `ppsoffset 11µs`; flag2: PPS on/off is the `pps` line"},
		{"fudge no options", "fudge 127.127.20.0", "time1 (PPS offset) is `ppsoffset DURATION`, time2 (NMEA delay) is `nmeadelay DURATION`"},
		{"ntpsec refclock", "refclock nmea unit 0 baud 9600", "x.conf:1: refclock: ntpsec's (or chrony's) refclock driver line, not a gpsntpd directive: use `gps DEVICE"},
		{"tinker unknown", "tinker allan 1500", "x.conf:1: tinker: tinker allan: not used by gpsntpd (stepout, panic and step are"},
		{"tinker odd", "tinker stepout", "x.conf:1: tinker: expected `tinker stepout|panic|step SECONDS …`"},
		{"tinker not a number", "tinker panic soon", `tinker panic: expected seconds (a number ≥ 0), got "soon"`},
		{"tinker stepout too short", "tinker stepout 0.5", "tinker stepout: expected at least 1 s"},
		{"tos", "tos minsane 3", "x.conf:1: tos: ntpd's source selection thresholds (minsane, minclock, maxclock, orphan…), not a gpsntpd directive: `tos minsane N` is `minsane N`"},
		{"statsdir", "statsdir /var/log/ntpstats/", "x.conf:1: statsdir: ntpd's statistics directory, not a gpsntpd directive: use `metrics ADDR:PORT`"},
		{"statistics", "statistics loopstats peerstats", "x.conf:1: statistics: ntpd's statistics files, not a gpsntpd directive: use `metrics ADDR:PORT`"},
		{"filegen", "filegen loopstats file loopstats type day enable", "x.conf:1: filegen: ntpd's statistics file generations"},
		{"logfile", "logfile /var/log/ntp.log", "x.conf:1: logfile: ntpd's log file, not a gpsntpd directive: gpsntpd logs to stderr"},
		{"keys", "keys /etc/ntp.keys", "x.conf:1: keys: ntpd's symmetric key file, not a gpsntpd directive: not supported: gpsntpd serves unauthenticated time"},
		{"includefile", "includefile /etc/ntp.d/", "x.conf:1: includefile: ntpd's file inclusion, not a gpsntpd directive: not supported"},
		{"disable", "disable monitor", "x.conf:1: disable: ntpd's system flags"},
		{"chrony allow", "allow 192.168.0.0/16", "x.conf:1: allow: chrony's client access rule, not a gpsntpd directive: use `restrict"},
	} {
		_, err := Parse("x.conf", strings.NewReader(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Parse(%q) error = %v, want containing %q", c.name, c.src, err, c.want)
		}
	}
}

// What the daemon really binds is accepted.
func TestParseAcceptsAddrPorts(t *testing.T) {
	for _, line := range []string{
		"listen :123", "listen 0.0.0.0:123", "listen [::]:123", "listen [::1]:12300", "listen 192.0.2.1:65535",
		"listen [fe80::1%eth0]:123", "metrics :9123", "metrics 127.0.0.1:9123", "metrics [::1]:9123",
		"server 127.0.0.1 iburst", "server 127.127.20.0.example iburst",
	} {
		if _, err := Parse("x.conf", strings.NewReader(line)); err != nil {
			t.Errorf("Parse(%q) = %v, want accepted", line, err)
		}
	}
}

// Every row of the foreign-directive table gives an error at file:line
// with its advice, and none shadows a directive of ours.
func TestForeignDirectives(t *testing.T) {
	for _, f := range foreigns {
		for _, d := range Directives {
			if f.name == d {
				t.Errorf("foreign directive %q is also one of ours", d)
			}
		}
		_, err := Parse("x.conf", strings.NewReader("\n"+f.name+" x"))
		want := "x.conf:2: " + f.name + ": " + f.what + ", not a gpsntpd directive: "
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error = %v, want containing %q", f.name, err, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"driftfle", "driftfile"}, {"restict", "restrict"}, {"lisen", "listen"}, {"gsp", "gps"},
		{"holdovr", "holdover"}, {"timefiel", "timefile"}, {"Console", "console"},
		{"frobnicate", ""}, {"xyz", ""}, {"ab", ""}, {"", ""},
	} {
		got, _ := suggest(c.in)
		if got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzParse: no input panics the parser; an accepted file reports every
// directive it set at a position of the file, and a listen address passes
// the same check again (what the daemon binds).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"gps /dev/serial0 baud 9600 receiver ublox\npps gpio 18\nlisten :123\n",
		"restrict default nomodify notrap nopeer noquery kod limited\nrestrict ::1\n",
		"server 127.127.20.0 mode 17\nfudge 127.127.20.0 time2 0.4\n",
		"holdover 2h maxerror 1ms # comment\nmetrics [::1]:9123\nconsole /dev/tty1 baud 9600\n",
		"driftfle x\ninterface listen fe80::1%eth0\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse("f.conf", strings.NewReader(src))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.conf:") {
				t.Fatalf("Parse error %q does not start with file:line", err)
			}
			return
		}
		for d, p := range c.Pos {
			if !strings.HasPrefix(p, "f.conf:") {
				t.Fatalf("Pos[%q] = %q", d, p)
			}
		}
		for _, l := range c.Listen {
			if err := checkAddrPort(l); err != nil {
				t.Fatalf("accepted listen %q fails checkAddrPort: %v", l, err)
			}
		}
	})
}

// A file saved by a Windows editor: byte order mark, CRLF line ends.
func TestParseWindowsFile(t *testing.T) {
	c, err := Parse("gpsntp.conf", strings.NewReader("\ufeffgps /dev/ttyAMA0 baud 9600\r\n# comment\r\npps gpio 4\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.GPS.Device != "/dev/ttyAMA0" || c.GPS.Baud != 9600 || c.PPS.Pin != 4 {
		t.Errorf("parsed gps %+v pps %+v", c.GPS, c.PPS)
	}
}
