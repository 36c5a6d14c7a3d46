package config

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// GPS is the `gps DEVICE|auto [baud N|auto] [receiver NAME]` directive.
type GPS struct {
	Device   string // Auto: the detected board's header UART
	Baud     int    // 0: auto-detect
	Receiver string // "": the detected HAT's receiver, else generic
}

// Auto is the device of `gps auto` and `console auto`: the daemon takes
// it from the board it runs on (board.Board.UART, board.Board.Console).
const Auto = "auto"

// PinAuto is the pin of `pps gpio auto`: the detected HAT's PPS pin, else
// the board's default (board.Board.PPSPin).
const PinAuto = -1

// PPSKind is how PPS edges are captured (`pps` directive).
type PPSKind string

const (
	PPSNone   PPSKind = "none"   // no PPS: NMEA time only
	PPSKernel PPSKind = "kernel" // /dev/ppsN, the kernel PPS API
	PPSGPIO   PPSKind = "gpio"   // a GPIO line through the character device
	PPSDCD    PPSKind = "dcd"    // the GPS serial port's DCD line
)

// ClockKind is the clock backend (`clock` directive).
type ClockKind string

const (
	ClockSoft   ClockKind = "soft"   // served time = CLOCK_REALTIME + a disciplined correction
	ClockSystem ClockKind = "system" // CLOCK_REALTIME itself, steered (needs CAP_SYS_TIME)
)

// PPS is the `pps` directive: `pps none`, `pps /dev/ppsN [clear]`,
// `pps gpio PIN|auto [chip LABEL] [falling]`, or `pps dcd` (the GPS serial
// port's DCD line).
type PPS struct {
	Kind    PPSKind
	Device  string // /dev/ppsN for kernel
	Pin     int    // BCM GPIO line for gpio; PinAuto: from the board and HAT
	Chip    string // gpio chip label ("" = board default)
	Falling bool   // capture the falling (clear) edge instead of rising
}

// Restrict is one `restrict` line, kept as words for ntpserve/restrict to
// interpret, with its position for error messages.
type Restrict struct {
	Args []string
	Pos  string // file:line
}

// Upstream is a `server` or `pool` line: an NTP server gpsntpd polls as a
// client (package upstream), for the time at boot, a second opinion on
// GPS, and a fallback past holdover.
type Upstream struct {
	Pool bool
	Host string // a name or an address literal
	Port int    // UDP port (chrony's `port`; default 123)
	// IBurst: a burst of packets 2 s apart at start and after the source
	// became unreachable.
	IBurst bool
	// Prefer, NoSelect and True mean what they mean in ntpd: preferred
	// among the survivors, polled and shown but never selected, never
	// outvoted (always a truechimer).
	Prefer, NoSelect, True bool
	// MinPoll and MaxPoll bound the poll interval, log2 s (6 = 64 s … 17
	// = 36 h; defaults 6 and 10, as ntpd).
	MinPoll, MaxPoll int
	// MaxSources is how many addresses of a pool name are kept as
	// associations (default 4); 0 for a server.
	MaxSources int
	Pos        string // file:line
}

// Poll limits of `server`/`pool` lines, log2 s. gpsntpd never polls an
// upstream faster than every 64 s (the Pool's terms for its clients).
const (
	MinPollLimit   = 6
	MaxPollLimit   = 17
	DefaultMinPoll = 6
	DefaultMaxPoll = 10
	// DefaultMaxSources is how many servers a pool name gives.
	DefaultMaxSources = 4
	// DefaultMinSane is how many agreeing truechimers the upstream
	// estimate needs (ntpd's `tos minsane`).
	DefaultMinSane = 2
)

// Console is the `console DEVICE|auto [baud N]` directive: the terminal
// showing the live status screen and taking commands. Device "-" is
// gpsntpd's own terminal (stdin/stdout); Auto the board's console that
// does not fight the GPS (board.Board.Console).
type Console struct {
	Device string // "": no console (the one-line status on stdout)
	Baud   int    // line speed set on a serial device (default 115200)
}

// Config is the whole file. The zero value plus Defaults() is a valid
// configuration.
type Config struct {
	GPS        GPS
	PPS        PPS
	Board      string // "auto" or a board name
	Clock      ClockKind
	Listen     []string
	Restricts  []Restrict
	Discard    []string // words after `discard`
	DiscardPos string
	DriftFile  string
	LeapFile   string
	// TimeFile keeps the last known good time (appliance directive): a Pi
	// has no RTC and boots in 1970, so GPS week-rollover correction floors
	// at this time, never at the system clock.
	TimeFile    string
	Upstreams   []Upstream
	Console     Console
	Control     string        // control socket path ("": the default; "none": off)
	Metrics     string        // ADDR:PORT of the Prometheus endpoint ("": off)
	Web         Web           // the LAN status page (web.go)
	User        string        // user to run as after opening devices and sockets
	HoldoverMax time.Duration // holdover DURATION: longest holdover (0: until maxerror)
	MaxError    time.Duration // holdover … maxerror DURATION
	PPSOffset   time.Duration // board PPS timestamp latency (positive: late)
	NMEADelay   time.Duration // receiver burst delay after the second
	Step        time.Duration // step threshold once locked
	// StepOut and Panic are ntpd's `tinker stepout`/`tinker panic`: after
	// the first lock, a receiver time further from the clock than Step is
	// followed only once it has held for StepOut, and never when further
	// than Panic. Panic < 0: no limit (`tinker panic 0`).
	StepOut time.Duration
	Panic   time.Duration
	// MinSane is how many truechimers must agree before the upstreams
	// count (`minsane N`, ntpd's `tos minsane`; default 2).
	MinSane int
	// Fallback serves from the selected upstreams at their stratum + 1
	// when GPS/PPS is gone past holdover or vetoed (`fallback on|off`,
	// default on; off: stratum 1 or unsynchronised).
	Fallback bool
	// MDNS answers mDNS queries for HOSTNAME.local (`mdns on|off`,
	// default off: the appliance's file turns it on; a .deb machine
	// usually has avahi-daemon doing it already).
	MDNS bool
	// LED and Display are the front panel (panel.go; package panel).
	LED     LED
	Display Display
	// Pos is where each directive was given (directive → file:line; the
	// last line of a repeatable one), for errors found after parsing
	// (unknown board, receiver, unwritable driftfile).
	Pos map[string]string
}

// Directives are the directive names the parser knows (the example
// configuration must show each).
var Directives = []string{"gps", "pps", "board", "clock", "listen", "interface", "restrict", "discard",
	"driftfile", "leapfile", "timefile", "server", "pool", "console", "control", "metrics", "user", "holdover",
	"ppsoffset", "nmeadelay", "step", "tinker", "mdns", "minsane", "fallback", "led", "display", "web"}

// once holds the directives that may be given once, each with why.
// Repeatable ones (listen, interface, restrict, server, pool) are absent.
var once = map[string]string{
	"gps":       "gpsntpd reads one receiver",
	"pps":       "gpsntpd takes one PPS source",
	"board":     "one board",
	"clock":     "one clock",
	"discard":   "one set of rate limits",
	"driftfile": "one drift file",
	"leapfile":  "one leap file",
	"timefile":  "one time file",
	"console":   "one console",
	"control":   "one control socket",
	"metrics":   "one metrics address",
	"user":      "one user",
	"holdover":  "one holdover limit",
	"ppsoffset": "one PPS offset",
	"nmeadelay": "one NMEA delay",
	"step":      "one step threshold",
	"mdns":      "one mDNS setting",
	"minsane":   "one quorum of upstream truechimers",
	"fallback":  "one fallback setting",
	"led":       "one status LED",
	"display":   "one display",
	"web":       "one status page",
}

// Defaults returns the configuration of a file with no directives.
func Defaults() Config {
	return Config{
		GPS:      GPS{Device: "/dev/serial0", Baud: 9600},
		PPS:      PPS{Kind: PPSNone},
		Board:    "auto",
		Clock:    ClockSoft,
		MaxError: time.Millisecond,
		Step:     128 * time.Millisecond,
		StepOut:  300 * time.Second,
		Panic:    1000 * time.Second,
		MinSane:  DefaultMinSane,
		Fallback: true,
	}
}

// Load reads and parses the file at path.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads a configuration; name is used in error messages.
func Parse(name string, r io.Reader) (Config, error) {
	c := Defaults()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64*1024)
	line := 0
	var errs []string
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			// A UTF-8 byte order mark: Windows editors write one (the
			// appliance's gpsntp.conf is edited on any laptop). CRLF
			// needs nothing: \r is a blank to strings.Fields.
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		words := strings.Fields(text)
		if len(words) == 0 {
			continue
		}
		pos := fmt.Sprintf("%s:%d", name, line)
		if c.Pos == nil {
			c.Pos = map[string]string{}
		}
		if first, ok := c.Pos[words[0]]; ok && once[words[0]] != "" {
			// A second line would silently replace the first.
			errs = append(errs, fmt.Sprintf("%s: %s: given twice (first at %s): %s; remove one", pos, words[0], first, once[words[0]]))
			continue
		}
		c.Pos[words[0]] = pos
		if err := c.directive(pos, words); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %s: %v", pos, words[0], err))
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return c, nil
}

func (c *Config) directive(pos string, w []string) error {
	args := w[1:]
	switch w[0] {
	case "gps":
		return c.parseGPS(args)
	case "pps":
		return c.parsePPS(args)
	case "board":
		if len(args) != 1 {
			return fmt.Errorf("expected `board auto` or `board NAME`")
		}
		c.Board = args[0]
	case "clock":
		if len(args) != 1 || (ClockKind(args[0]) != ClockSoft && ClockKind(args[0]) != ClockSystem) {
			return fmt.Errorf("expected `clock soft` or `clock system`")
		}
		c.Clock = ClockKind(args[0])
	case "listen", "interface":
		return c.parseListen(w[0], args)
	case "restrict":
		if len(args) == 0 {
			return fmt.Errorf("expected `restrict default|ADDR [mask M]|CIDR FLAG…`")
		}
		c.Restricts = append(c.Restricts, Restrict{Args: args, Pos: pos})
	case "discard":
		if len(args) == 0 || len(args)%2 != 0 {
			return fmt.Errorf("expected `discard [average N] [minimum N] [monitor N]`")
		}
		c.Discard, c.DiscardPos = args, pos
	case "console":
		return c.parseConsole(args)
	case "control":
		if len(args) != 1 || !(args[0] == "none" || strings.HasPrefix(args[0], "/")) {
			return fmt.Errorf("expected `control /ABSOLUTE/PATH.sock` or `control none`")
		}
		c.Control = args[0]
	case "user":
		if len(args) != 1 || !validUser(args[0]) {
			return fmt.Errorf("expected `user NAME` (a user name or numeric uid)")
		}
		c.User = args[0]
	case "driftfile", "leapfile", "timefile", "metrics":
		return c.parseOneArg(w[0], args)
	case "server", "pool":
		return c.parseUpstream(pos, w[0] == "pool", args)
	case "minsane":
		n, err := strconv.Atoi(strings.Join(args, " "))
		if len(args) != 1 || err != nil || n < 1 || n > 16 {
			return fmt.Errorf("expected `minsane N` with N 1–16 (ntpd's `tos minsane N`), got %q", strings.Join(args, " "))
		}
		c.MinSane = n
	case "fallback":
		if len(args) != 1 || (args[0] != "on" && args[0] != "off") {
			return fmt.Errorf("expected `fallback on` or `fallback off`")
		}
		c.Fallback = args[0] == "on"
	case "led":
		l, err := ParseLED(args)
		if err != nil {
			return err
		}
		c.LED = l
	case "display":
		d, err := ParseDisplay(args)
		if err != nil {
			return err
		}
		c.Display = d
	case "web":
		w, err := parseWeb(args)
		if err != nil {
			return err
		}
		c.Web = w
	case "mdns":
		if len(args) != 1 || (args[0] != "on" && args[0] != "off") {
			return fmt.Errorf("expected `mdns on` or `mdns off`")
		}
		c.MDNS = args[0] == "on"
	case "holdover":
		return c.parseHoldover(args)
	case "tinker":
		return c.parseTinker(args)
	case "ppsoffset", "nmeadelay", "step":
		return c.parseDuration(w[0], args)
	default:
		if f, ok := lookupForeign(w[0]); ok {
			return foreignError(f, args)
		}
		if d, ok := suggest(w[0]); ok {
			return fmt.Errorf("unknown directive; did you mean `%s`?", d)
		}
		return fmt.Errorf("unknown directive")
	}
	return nil
}

// parseListen reads `listen ADDR:PORT` and ntpd's `interface listen ADDRESS`.
func (c *Config) parseListen(word string, args []string) error {
	switch word {
	case "listen":
		if len(args) != 1 {
			return fmt.Errorf("expected `listen ADDR:PORT` (%s)", addrPortRule)
		}
		if err := checkAddrPort(args[0]); err != nil {
			return fmt.Errorf("expected `listen ADDR:PORT` (%s), got %q: %v", addrPortRule, args[0], err)
		}
		c.Listen = append(c.Listen, args[0])
	case "interface":
		// ntpd: interface listen ADDRESS (the subset that names addresses).
		if len(args) != 2 || args[0] != "listen" {
			return fmt.Errorf("expected `interface listen ADDRESS` (ntpd's other interface forms: use `listen ADDR:PORT`)")
		}
		a, err := netip.ParseAddr(args[1])
		if err != nil {
			return fmt.Errorf("expected an IP address after `interface listen`, got %q (interface names are not resolved; `listen :123` serves every address)", args[1])
		}
		c.Listen = append(c.Listen, netip.AddrPortFrom(a, 123).String())
	}
	return nil
}

// parseOneArg reads the directives that take one path or address.
func (c *Config) parseOneArg(word string, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("expected one argument")
	}
	switch word {
	case "driftfile":
		c.DriftFile = args[0]
	case "leapfile":
		c.LeapFile = args[0]
	case "timefile":
		c.TimeFile = args[0]
	case "metrics":
		if err := checkAddrPort(args[0]); err != nil {
			return fmt.Errorf("expected `metrics ADDR:PORT` (%s), e.g. 127.0.0.1:9123, got %q: %v", addrPortRule, args[0], err)
		}
		c.Metrics = args[0]
	}
	return nil
}

// parseUpstream reads `server HOST [port N] [iburst] [prefer] [noselect]
// [true] [minpoll N] [maxpoll N]` and `pool HOST [port N] [iburst]
// [maxsources N] …`; a refclock address (127.127.t.u) gets ntpd's meaning
// and our equivalent.
func (c *Config) parseUpstream(pos string, pool bool, args []string) error {
	want := "expected `server HOST [port N] [iburst] [prefer] [noselect] [true] [minpoll N] [maxpoll N]`"
	if pool {
		want = "expected `pool HOST [port N] [iburst] [maxsources N] [prefer] [noselect] [true] [minpoll N] [maxpoll N]`"
	}
	if len(args) == 0 {
		return fmt.Errorf("%s", want)
	}
	if advice, ok := refclockAdvice(args[0]); ok {
		return fmt.Errorf("%s", advice)
	}
	u := Upstream{Pool: pool, Host: args[0], Port: 123, MinPoll: DefaultMinPoll, MaxPoll: DefaultMaxPoll, Pos: pos}
	if pool {
		u.MaxSources = DefaultMaxSources
	}
	for i := 1; i < len(args); i++ {
		o := args[i]
		switch o {
		case "iburst":
			u.IBurst = true
		case "prefer":
			u.Prefer = true
		case "noselect":
			u.NoSelect = true
		case "true":
			u.True = true
		case "port", "minpoll", "maxpoll", "maxsources":
			if i+1 >= len(args) {
				return fmt.Errorf("expected a number after %q", o)
			}
			i++
			n, err := strconv.Atoi(args[i])
			if err != nil {
				return fmt.Errorf("expected a number after %q, got %q", o, args[i])
			}
			if err := u.setNumber(o, n); err != nil {
				return err
			}
		case "burst":
			return fmt.Errorf("`burst` (ntpd: 8 packets at every poll) is not supported: the Pool asks its clients not to; use `iburst` (a burst at start only)")
		default:
			return fmt.Errorf("unknown option %q (%s)", o, want)
		}
	}
	if u.MinPoll > u.MaxPoll {
		return fmt.Errorf("minpoll %d is above maxpoll %d: expected minpoll ≤ maxpoll", u.MinPoll, u.MaxPoll)
	}
	c.Upstreams = append(c.Upstreams, u)
	return nil
}

// setNumber sets one numeric option of a `server`/`pool` line.
func (u *Upstream) setNumber(opt string, n int) error {
	switch opt {
	case "port":
		if n < 1 || n > 65535 {
			return fmt.Errorf("expected `port N` with N 1-65535 (chrony's spelling; ntpd has none), got %d", n)
		}
		u.Port = n
	case "minpoll", "maxpoll":
		if n < MinPollLimit || n > MaxPollLimit {
			return fmt.Errorf("expected `%s N` with N %d–%d (log2 seconds: 64 s to 36 h; gpsntpd never polls an upstream faster than every 64 s), got %d",
				opt, MinPollLimit, MaxPollLimit, n)
		}
		if opt == "minpoll" {
			u.MinPoll = n
		} else {
			u.MaxPoll = n
		}
	case "maxsources":
		if !u.Pool {
			return fmt.Errorf("`maxsources` is for `pool` lines (how many of the name's addresses to use)")
		}
		if n < 1 || n > 16 {
			return fmt.Errorf("expected `maxsources N` with N 1–16 (chrony's spelling; ntpd: `tos maxclock`), got %d", n)
		}
		u.MaxSources = n
	}
	return nil
}

// parseDuration reads `ppsoffset`, `nmeadelay` and `step`.
func (c *Config) parseDuration(word string, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("expected a duration such as 11us or 120ms")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return fmt.Errorf("expected a duration such as 11us or 120ms, got %q", args[0])
	}
	switch word {
	case "ppsoffset":
		c.PPSOffset = d
	case "nmeadelay":
		if d < 0 || d >= time.Second {
			return fmt.Errorf("expected a delay between 0 and 1s, got %v", d)
		}
		c.NMEADelay = d
	case "step":
		if d <= 0 {
			return fmt.Errorf("expected a positive duration, got %v", d)
		}
		c.Step = d
	}
	return nil
}

// addrPortRule says what checkAddrPort accepts.
const addrPortRule = "ADDR an IP address literal, [ADDR] for IPv6, or nothing for every address; PORT 1-65535"

// checkAddrPort accepts what the daemon binds without surprise: ntpserve's
// listen addresses and net.Listen for metrics take HOST:PORT with an IP
// literal or an empty host (every address). Port 0 (and an empty port,
// which the resolver reads as 0) would bind a random port; names are not
// resolved.
func checkAddrPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("not ADDR:PORT (IPv6 as [::1]:123)")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("port %q is not a number 1-65535", port)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("address %q is not an IP address literal (host names are not resolved)", host)
		}
	}
	return nil
}

func (c *Config) parseGPS(args []string) error {
	const want = "expected `gps DEVICE|auto [baud N|auto] [receiver NAME]`"
	if len(args) == 0 || len(args)%2 != 1 {
		return fmt.Errorf("%s", want)
	}
	if args[0] != Auto && !strings.HasPrefix(args[0], "/") {
		return fmt.Errorf("%s (DEVICE a path such as /dev/ttyAMA0, or auto for the board's header UART), got %q", want, args[0])
	}
	g := GPS{Device: args[0], Baud: 9600}
	for i := 1; i < len(args); i += 2 {
		k, v := args[i], args[i+1]
		switch k {
		case "baud":
			if v == "auto" {
				g.Baud = 0
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || !validBaud(n) {
				return fmt.Errorf("expected baud 4800, 9600, 19200, 38400, 57600, 115200, 230400 or auto, got %q", v)
			}
			g.Baud = n
		case "receiver":
			g.Receiver = v
		default:
			return fmt.Errorf("unknown option %q; %s", k, want)
		}
	}
	c.GPS = g
	return nil
}

func validBaud(n int) bool {
	switch n {
	case 4800, 9600, 19200, 38400, 57600, 115200, 230400:
		return true
	}
	return false
}

func (c *Config) parsePPS(args []string) error {
	const want = "expected `pps none`, `pps /dev/ppsN [clear]`, `pps gpio PIN|auto [chip LABEL] [falling]` or `pps dcd`"
	if len(args) == 0 {
		return fmt.Errorf("%s", want)
	}
	p := PPS{}
	switch {
	case args[0] == "none" && len(args) == 1:
		p.Kind = PPSNone
	case args[0] == "dcd" && len(args) == 1:
		p.Kind = PPSDCD
	case strings.HasPrefix(args[0], "/dev/"):
		p.Kind, p.Device = PPSKernel, args[0]
		for _, o := range args[1:] {
			if o != "clear" {
				return fmt.Errorf("unknown option %q; %s", o, want)
			}
			p.Falling = true
		}
	case args[0] == "gpio" && len(args) >= 2:
		n, err := parsePinArg(args[1], true)
		if err != nil {
			return err
		}
		p.Kind, p.Pin = PPSGPIO, n
		for i := 2; i < len(args); i++ {
			switch args[i] {
			case "falling":
				p.Falling = true
			case "chip":
				if i+1 >= len(args) {
					return fmt.Errorf("expected a chip label after `chip`")
				}
				p.Chip = args[i+1]
				i++
			default:
				return fmt.Errorf("unknown option %q; %s", args[i], want)
			}
		}
	default:
		return fmt.Errorf("%s", want)
	}
	c.PPS = p
	return nil
}

func (c *Config) parseHoldover(args []string) error {
	const want = "expected `holdover DURATION [maxerror DURATION]`, e.g. `holdover 2h maxerror 1ms`"
	if len(args) != 1 && len(args) != 3 {
		return fmt.Errorf("%s", want)
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d <= 0 {
		return fmt.Errorf("%s; got %q", want, args[0])
	}
	c.HoldoverMax = d
	if len(args) == 3 {
		if args[1] != "maxerror" {
			return fmt.Errorf("%s; got %q", want, args[1])
		}
		m, err := time.ParseDuration(args[2])
		if err != nil || m <= 0 || m > 25*time.Millisecond {
			return fmt.Errorf("expected maxerror between 0 and 25ms (the pool's limit), got %q", args[2])
		}
		c.MaxError = m
	}
	return nil
}

func (c *Config) parseConsole(args []string) error {
	const want = "expected `console DEVICE [baud N]` (a terminal such as /dev/ttyAMA10 or /dev/tty1, - for gpsntpd's own, or auto for the board's)"
	if len(args) != 1 && len(args) != 3 {
		return fmt.Errorf("%s", want)
	}
	if args[0] != "-" && args[0] != Auto && !strings.HasPrefix(args[0], "/dev/") {
		return fmt.Errorf("%s, got %q", want, args[0])
	}
	con := Console{Device: args[0], Baud: 115200}
	if len(args) == 3 {
		n, err := strconv.Atoi(args[2])
		if args[1] != "baud" || err != nil || !validBaud(n) {
			return fmt.Errorf("expected `baud 9600|19200|38400|57600|115200|230400` after the console device")
		}
		con.Baud = n
	}
	c.Console = con
	return nil
}

// validUser accepts what useradd(8) accepts, or a numeric uid.
func validUser(s string) bool {
	if s == "" || len(s) > 32 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// parseTinker reads ntpd's `tinker` pairs that mean the same here:
// `tinker stepout SECONDS`, `tinker panic SECONDS` (0: no limit) and
// `tinker step SECONDS` (our `step`). ntpd's others tune a loop gpsntpd
// does not have.
func (c *Config) parseTinker(args []string) error {
	if len(args) == 0 || len(args)%2 != 0 {
		return fmt.Errorf("expected `tinker stepout|panic|step SECONDS …`, got %q", strings.Join(args, " "))
	}
	for i := 0; i < len(args); i += 2 {
		v, err := strconv.ParseFloat(args[i+1], 64)
		if err != nil || v < 0 || v > 1e9 || v != v {
			return fmt.Errorf("tinker %s: expected seconds (a number ≥ 0), got %q", args[i], args[i+1])
		}
		d := time.Duration(v * float64(time.Second))
		switch args[i] {
		case "stepout":
			if d < time.Second {
				return fmt.Errorf("tinker stepout: expected at least 1 s (a jump must hold that long to be followed), got %v", d)
			}
			c.StepOut = d
		case "panic":
			if d == 0 {
				d = -1 // ntpd: 0 disables the panic limit
			}
			c.Panic = d
		case "step":
			if d <= 0 {
				return fmt.Errorf("tinker step: expected a positive number of seconds, got %q", args[i+1])
			}
			c.Step = d
		default:
			return fmt.Errorf("tinker %s: not used by gpsntpd (stepout, panic and step are; holdover is `holdover DURATION [maxerror DURATION]`)", args[i])
		}
	}
	return nil
}
