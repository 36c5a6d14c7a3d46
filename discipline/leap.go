package discipline

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// ntpEpochOffsetS is seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const ntpEpochOffsetS = 2_208_988_800

// LeapTable is a parsed leap-seconds.list (IERS/IETF format, shipped by
// Debian's tzdata as /usr/share/zoneinfo/leap-seconds.list and named by
// ntpd's `leapfile` directive): lines of "NTP-seconds TAI−UTC", where the
// NTP time is the instant (00:00:00 UTC of the listed date) from which the
// new offset applies, and "#@ NTP-seconds" the file's expiry.
type LeapTable struct {
	// Events in time order: AtNs is the Unix time (ns) of the 00:00:00
	// that follows the leap; Insert is true when TAI−UTC grew (23:59:60
	// inserted), false when it shrank (23:59:59 skipped).
	Events  []LeapEvent
	Expires time.Time
}

// LeapEvent is one leap second.
type LeapEvent struct {
	AtNs   int64
	Insert bool
}

// LoadLeapFile reads a leap-seconds.list file.
func LoadLeapFile(path string) (*LeapTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("leapfile: %w", err)
	}
	defer f.Close()
	return ParseLeapFile(path, f)
}

// ChooseLeapFile loads each of paths and returns the one that expires
// last (its `#@` line; a file that names no expiry ranks below any that
// does), so that a newer leap-seconds.list put beside the one an image
// was built with takes over, and an older one does not. On a tie the
// earlier path wins: list the configured file first. Each path that
// cannot be read or parsed is in rejected (parse errors say path:line)
// and is skipped; path is "" and t nil when none could be used.
func ChooseLeapFile(paths []string) (path string, t *LeapTable, rejected []error) {
	for _, p := range paths {
		lt, err := LoadLeapFile(p)
		if err != nil {
			rejected = append(rejected, err)
			continue
		}
		if t == nil || lt.Expires.After(t.Expires) {
			path, t = p, lt
		}
	}
	return path, t, rejected
}

// leapMaxNTPS is the latest time (NTP seconds) a leap file may name: the
// start of 2200, well inside what int64 Unix nanoseconds hold (2262).
// Anything later is not a leap file's date (fuzzing found both an entry and
// an expiry that overflowed).
const leapMaxNTPS = 7258118400 + ntpEpochOffsetS

// ParseLeapFile parses leap-seconds.list text; name is used in errors,
// which say name:line and what was expected.
func ParseLeapFile(name string, r io.Reader) (*LeapTable, error) {
	t := &LeapTable{}
	sc := bufio.NewScanner(r)
	line, prev, prevNTP := 0, -1, int64(-1)
	for sc.Scan() {
		line++
		s := sc.Text()
		if strings.HasPrefix(s, "#@") {
			v, err := strconv.ParseInt(strings.TrimSpace(s[2:]), 10, 64)
			if err != nil || v < ntpEpochOffsetS || v > leapMaxNTPS {
				return nil, fmt.Errorf("%s:%d: want `#@ NTP-seconds` (expiry), got %q", name, line, s)
			}
			t.Expires = time.Unix(v-ntpEpochOffsetS, 0).UTC()
			continue
		}
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		f := strings.Fields(s)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: want `NTP-seconds TAI-UTC`, got %q", name, line, sc.Text())
		}
		ntpS, err1 := strconv.ParseInt(f[0], 10, 64)
		off, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil || ntpS < ntpEpochOffsetS || ntpS > leapMaxNTPS {
			return nil, fmt.Errorf("%s:%d: want `NTP-seconds TAI-UTC`, got %q", name, line, sc.Text())
		}
		if ntpS <= prevNTP {
			return nil, fmt.Errorf("%s:%d: entries out of order", name, line)
		}
		prevNTP = ntpS
		at := (ntpS - ntpEpochOffsetS) * 1e9
		if prev >= 0 && off != prev {
			t.Events = append(t.Events, LeapEvent{AtNs: at, Insert: off > prev})
		}
		prev = off
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if prev < 0 {
		return nil, fmt.Errorf("%s: no leap second entries", name)
	}
	return t, nil
}

// Next returns the first leap event after UTC time nowNs.
func (t *LeapTable) Next(nowNs int64) (LeapEvent, bool) {
	if t == nil {
		return LeapEvent{}, false
	}
	for _, e := range t.Events {
		if e.AtNs > nowNs {
			return e, true
		}
	}
	return LeapEvent{}, false
}

// Announce returns the leap indicator (LeapNone, LeapInsert, LeapDelete) to
// put on the wire at UTC time nowNs: set during the whole UTC month whose
// last day ends with the leap, as the IERS announces them and as ntpd
// passes them on, and cleared once it has happened.
func (t *LeapTable) Announce(nowNs int64) (Leap, LeapEvent) {
	e, ok := t.Next(nowNs)
	if !ok {
		return LeapNone, e
	}
	return announce(e, nowNs), e
}

// current reports whether the table is within its expiry date at nowNs (a
// table without one is taken as current).
func (t *LeapTable) current(nowNs int64) bool {
	return t != nil && (t.Expires.IsZero() || nowNs < t.Expires.UnixNano())
}

// announce is the leap indicator for a future event e at UTC time nowNs:
// set during the whole UTC month whose last day ends with the leap, none
// before.
func announce(e LeapEvent, nowNs int64) Leap {
	last := time.Unix(0, e.AtNs-1).UTC() // 23:59:59.999… of the last day
	now := time.Unix(0, nowNs).UTC()
	switch {
	case e.AtNs <= nowNs || now.Year() != last.Year() || now.Month() != last.Month():
		return LeapNone
	case e.Insert:
		return LeapInsert
	}
	return LeapDelete
}
