package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// foreign is a directive of another time daemon's configuration that
// gpsntpd does not take: what it is there, and what gpsntpd has instead.
type foreign struct {
	name    string
	what    string
	instead string
}

// Repeated advice, one spelling each.
const (
	useStats    = "use `metrics ADDR:PORT` (Prometheus /metrics) and `gpsntpctl status` / `gpsntpctl log`"
	useLog      = "gpsntpd logs to stderr (the journal under systemd); `gpsntpctl log` shows recent events"
	noAuth      = "not supported: gpsntpd serves unauthenticated time, as the pool does"
	clientsOnly = "not supported: gpsntpd answers client (mode 3) requests only"
	useGPS      = "use `gps DEVICE [baud N] [receiver NAME]` for the receiver and `pps /dev/ppsN | pps gpio PIN | pps dcd` for its pulse; calibrate with `ppsoffset` and `nmeadelay`"
)

// foreigns are the ntpd/ntpsec (ntp.conf(5)) and chrony (chrony.conf(5))
// directives a migrating user is likely to bring, one row each. Each gets
// an error at its file:line naming our equivalent instead of a bare
// "unknown directive". `fudge` and refclock addresses in `server` lines get
// more specific advice (see fudgeAdvice, refclockAdvice).
var foreigns = []foreign{
	// ntpd / ntpsec
	{"fudge", "ntpd's refclock calibration", "time1 (PPS offset) is `ppsoffset DURATION`, time2 (NMEA delay) is `nmeadelay DURATION`; the refid and stratum follow the source in use (PPS or GPS, stratum 1)"},
	{"refclock", "ntpsec's (or chrony's) refclock driver line", useGPS},
	{"statsdir", "ntpd's statistics directory", useStats},
	{"statistics", "ntpd's statistics files", useStats},
	{"filegen", "ntpd's statistics file generations", useStats},
	{"logfile", "ntpd's log file", useLog},
	{"logconfig", "ntpd's log classes", useLog},
	{"keys", "ntpd's symmetric key file", noAuth},
	{"keysdir", "ntpd's Autokey directory", noAuth},
	{"trustedkey", "ntpd's trusted symmetric keys", noAuth},
	{"controlkey", "ntpd's ntpq (mode 6) key", "not supported: gpsntpd answers no mode 6 queries; use `gpsntpctl` on the control socket (`control PATH`)"},
	{"requestkey", "ntpd's ntpdc (mode 7) key", "not supported: gpsntpd answers no mode 7 queries; use `gpsntpctl` on the control socket (`control PATH`)"},
	{"crypto", "ntpd's Autokey", noAuth},
	{"revoke", "ntpd's Autokey", noAuth},
	{"nts", "ntpsec's Network Time Security", noAuth},
	{"authenticate", "ntpd's authentication switch", noAuth},
	{"enable", "ntpd's system flags (auth, bclient, calibrate, kernel, monitor, ntp, stats)", "steering the kernel clock is `clock system`; statistics are `metrics ADDR:PORT`; the rest have no equivalent"},
	{"disable", "ntpd's system flags (auth, bclient, calibrate, kernel, monitor, ntp, stats)", "`clock soft` leaves the kernel clock alone; the rest have no equivalent"},
	{"tos", "ntpd's source selection thresholds (minsane, minclock, maxclock, orphan…)", "`tos minsane N` is `minsane N`; a pool's maxclock is `pool HOST maxsources N`; orphan mode and the rest have no equivalent"},
	{"peer", "an ntpd symmetric (mode 1) association", clientsOnly},
	{"broadcast", "ntpd's broadcast server", clientsOnly},
	{"broadcastclient", "ntpd's broadcast client", clientsOnly},
	{"multicastclient", "ntpd's multicast client", clientsOnly},
	{"manycastclient", "ntpd's manycast client", clientsOnly},
	{"manycastserver", "ntpd's manycast server", clientsOnly},
	{"includefile", "ntpd's file inclusion", "not supported: put every directive in the one file"},
	{"pidfile", "ntpd's pid file", "not needed: run gpsntpd under a supervisor (systemd, gokrazy)"},
	{"nic", "ntpd's interface selection", "use `listen ADDR:PORT` or `interface listen ADDRESS`"},
	{"unrestrict", "ntpsec's removal of a restrict rule", "remove the `restrict` line instead"},
	{"mru", "ntpd's MRU list sizes", "not needed: gpsntpd's client table has a fixed size (`gpsntpctl clients`)"},
	{"rlimit", "ntpd's memory and stack limits", "not needed"},
	{"setvar", "ntpd's mode 6 system variables", "not supported: gpsntpd answers no mode 6 queries"},
	{"trap", "ntpd's mode 6 trap receivers", "not supported: gpsntpd answers no mode 6 queries; watch `metrics` or `gpsntpctl log` instead"},
	{"leapsmearinterval", "ntpd's leap smearing", "not supported: gpsntpd inserts or deletes leap seconds as announced (a smeared server must not be mixed with others)"},
	// chrony
	{"allow", "chrony's client access rule", "use `restrict ADDR[/BITS] FLAG…` (everyone is served unless a `restrict` line says otherwise)"},
	{"deny", "chrony's client access rule", "use `restrict ADDR[/BITS] ignore`"},
	{"makestep", "chrony's step threshold", "use `step DURATION` (offsets beyond it are stepped once locked)"},
	{"local", "chrony's local reference (undisciplined stratum N)", "not supported: without GPS gpsntpd serves holdover for `holdover DURATION`, then says it is unsynchronised"},
	{"bindaddress", "chrony's listening address", "use `listen ADDR:PORT`"},
	{"port", "chrony's NTP port", "use `listen ADDR:PORT`, e.g. `listen :123`"},
	{"logdir", "chrony's statistics directory", useStats},
	{"rtcsync", "chrony's RTC synchronisation", "not supported; on a board without an RTC, `timefile FILE` keeps the last known time"},
}

func lookupForeign(name string) (foreign, bool) {
	for _, f := range foreigns {
		if strings.EqualFold(f.name, name) {
			return f, true
		}
	}
	return foreign{}, false
}

// foreignError explains a directive of ntpd or chrony: what it is and what
// gpsntpd has instead.
func foreignError(f foreign, args []string) error {
	instead := f.instead
	if f.name == "fudge" {
		if a := fudgeAdvice(args); a != "" {
			instead = a
		}
	}
	return fmt.Errorf("%s, not a gpsntpd directive: %s", f.what, instead)
}

// refclocks names ntpd's reference clock drivers by type (the t of
// 127.127.t.u), with what gpsntpd has instead.
var refclocks = map[int]struct{ name, instead string }{
	1:  {"LOCAL (undisciplined local clock)", "gpsntpd has no local-clock source: without GPS it serves holdover for `holdover DURATION`, then says it is unsynchronised"},
	20: {"NMEA GPS", useGPS + " (mode's baud bits are `gps DEVICE baud N`; flag1 is a `pps` line)"},
	22: {"PPS (ATOM)", "use `pps /dev/ppsN [clear]` or `pps gpio PIN [falling]` beside the `gps` line"},
	28: {"SHM (shared memory, from gpsd)", "gpsntpd reads the receiver itself: stop gpsd on that device and " + useGPS},
	46: {"GPSD JSON", "gpsntpd reads the receiver itself: stop gpsd on that device and " + useGPS},
}

// refclockAdvice explains a `server 127.127.t.u` line: ntpd's pseudo
// address of a reference clock driver. ok is false for other hosts.
func refclockAdvice(host string) (string, bool) {
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return "", false
	}
	b := a.As4()
	if b[0] != 127 || b[1] != 127 {
		return "", false
	}
	if rc, ok := refclocks[int(b[2])]; ok {
		return fmt.Sprintf("%s is ntpd's refclock address of driver %d, %s, unit %d; gpsntpd has no refclock drivers: %s",
			host, b[2], rc.name, b[3], rc.instead), true
	}
	return fmt.Sprintf("%s is ntpd's refclock address of driver %d, unit %d (127.127.t.u addresses are ntpd's); gpsntpd has no refclock drivers: %s",
		host, b[2], b[3], useGPS), true
}

// fudgeAdvice turns each option of a `fudge ADDR OPTION VALUE…` line into
// gpsntpd's directive, with the value converted where there is one. ntpd's
// fudge times are seconds that correct a timestamp that comes late, as
// ppsoffset and nmeadelay do, so the sign carries over. "" when no option
// is recognised.
func fudgeAdvice(args []string) string {
	if len(args) > 0 {
		args = args[1:] // the refclock address
	}
	var out []string
	for i := 0; i < len(args); i++ {
		opt, val := args[i], ""
		if i+1 < len(args) {
			val = args[i+1]
		}
		switch opt {
		case "time1":
			out = append(out, "time1 (PPS offset) is "+fudgeTime("ppsoffset", val))
		case "time2":
			out = append(out, "time2 (NMEA end-of-line delay) is "+fudgeTime("nmeadelay", val))
		case "refid":
			out = append(out, "refid: gpsntpd sends PPS or GPS, by the source in use")
		case "stratum":
			out = append(out, "stratum: gpsntpd serves stratum 1 while locked to GPS")
		case "flag1", "flag2", "flag3", "flag4":
			out = append(out, opt+": PPS on/off is the `pps` line, its edge `pps /dev/ppsN clear` or `pps gpio PIN falling`, kernel discipline `clock system`")
		default:
			continue
		}
		i++ // skip the value
	}
	return strings.Join(out, "; ")
}

func fudgeTime(directive, seconds string) string {
	s, err := strconv.ParseFloat(seconds, 64)
	if err != nil || math.IsNaN(s) || math.Abs(s) > 1 {
		return "`" + directive + " DURATION`"
	}
	d := time.Duration(s * 1e9).Round(time.Microsecond)
	if s != 0 && d == 0 {
		d = time.Duration(s * 1e9)
	}
	return fmt.Sprintf("`%s %v`", directive, d)
}

// suggest returns the known directive nearest to name if it is a likely
// typo: at most one edit away for names up to 4 letters, two for longer
// ones (a swap of neighbours counts as one).
func suggest(name string) (string, bool) {
	name = strings.ToLower(name)
	best, bestD := "", 3
	for _, d := range Directives {
		if dist := editDistance(name, d); dist < bestD {
			best, bestD = d, dist
		}
	}
	limit := 2
	if len(name) <= 4 {
		limit = 1
	}
	if best == "" || bestD > limit {
		return "", false
	}
	return best, true
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b)) // not a typo of a directive; bound the work
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
