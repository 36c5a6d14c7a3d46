package gps

import (
	"strconv"
	"time"
)

// RolloverPeriod is the GPS week-number rollover period: the legacy 10-bit
// week number in the navigation message wraps every 1024 weeks (IS-GPS-200,
// 20.3.3.3.1.1), so a receiver that resolves the week against a stale
// firmware epoch reports a date exactly 1024 weeks (≈19.6 years) early.
// Rollovers so far: 1999-08-22 and 2019-04-07.
const RolloverPeriod = 1024 * 7 * 24 * time.Hour

// DefaultReferenceDate is the date floor (Config.ReferenceDate, the
// NewStream and NewAssembler floor) when none is given: a date this
// software cannot run before (it did not exist yet). It is the project's
// one hard-coded floor; bump it with each release. gpsntpd raises it to
// the commit time Go stamps into the build (vcs.time) and to the last
// persisted time less a day, whichever is latest.
var DefaultReferenceDate = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// gpsEpoch is the GPS time origin. No GNSS receiver can name a date before
// it; such dates are receiver defaults, not rollover artifacts.
var gpsEpoch = time.Date(1980, time.January, 6, 0, 0, 0, 0, time.UTC)

// FloorFromApproxDate turns an approximate date (a capture's "# Date:" header,
// an operator's -date) into a rollover floor: half a rollover period
// (512 weeks ≈ 9.8 years) before it. A date in the data within ±9.8 years of
// the approximate date is taken as is; one that is a whole rollover early is
// corrected. A hard floor (the build date) is used directly instead.
func FloorFromApproxDate(d time.Time) time.Time {
	return d.Add(-RolloverPeriod / 2)
}

// PivotYear is the first year of the 100-year window that two-digit years
// are placed in, given the reference (floor) date: 20 years before it, so a
// date reported one rollover early (≈19.6 years) still lands in the window
// and can then be unfolded, while the window reaches ~80 years ahead.
func PivotYear(reference time.Time) int {
	return reference.Year() - 20
}

// ExpandYear returns the only year in [pivotYear, pivotYear+99] whose last two
// digits are yy (0–99). It is the one place two-digit years become years.
// Example: ExpandYear(99, 1999) = 1999, ExpandYear(1, 1999) = 2001,
// ExpandYear(99, 2006) = 2099.
func ExpandYear(yy, pivotYear int) int {
	base := pivotYear - mod(pivotYear, 100)
	y := base + yy
	if y < pivotYear {
		y += 100
	}
	return y
}

func mod(a, b int) int {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// UnfoldRollover moves t forward by whole GPS rollover periods (1024 weeks)
// until it is not before floor. It is computed against the floor given, never
// against the system clock: a Pi without RTC boots in 1970. Times before the
// GPS epoch (1980-01-06) are returned unchanged with ok=false: those are
// receiver defaults, not rollover artifacts.
func UnfoldRollover(t, floor time.Time) (time.Time, bool) {
	if t.Before(gpsEpoch) {
		return t, false
	}
	if !t.Before(floor) {
		return t, true
	}
	const periodS = int64(RolloverPeriod / time.Second)
	gap := floor.Unix() - t.Unix()
	k := (gap + periodS - 1) / periodS
	t = t.Add(time.Duration(k) * RolloverPeriod)
	if t.Before(floor) { // sub-second remainder
		t = t.Add(RolloverPeriod)
	}
	return t, true
}

// civilDate is a calendar date as a receiver gave it (year already four
// digits).
type civilDate struct {
	Year, Month, Day int
}

func (d civilDate) valid() bool {
	if d.Year < 1 || d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	return d.Day <= daysIn(d.Year, time.Month(d.Month))
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseTOD parses an NMEA time of day "hhmmss[.f…]" to nanoseconds since
// midnight, keeping up to 9 fractional digits (go-nmea keeps milliseconds
// only). Second 60 is accepted only at 23:59 (an inserted leap second, the
// only place UTC allows it); leap reports it. Empty → ok=false.
func parseTOD(s []byte) (todNs int64, leap, ok bool) {
	if len(s) < 6 {
		return 0, false, false
	}
	for i := 0; i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false, false
		}
	}
	hh := int(s[0]-'0')*10 + int(s[1]-'0')
	mm := int(s[2]-'0')*10 + int(s[3]-'0')
	ss := int(s[4]-'0')*10 + int(s[5]-'0')
	var frac int64
	if len(s) > 6 {
		if s[6] != '.' {
			return 0, false, false
		}
		scale := int64(100_000_000)
		for i := 7; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false, false
			}
			if scale > 0 {
				frac += int64(c-'0') * scale
				scale /= 10
			}
		}
	}
	if hh > 23 || mm > 59 || ss > 60 {
		return 0, false, false
	}
	if ss == 60 {
		if hh != 23 || mm != 59 {
			return 0, false, false
		}
		leap = true
	}
	todNs = (int64(hh)*3600+int64(mm)*60+int64(ss))*1e9 + frac
	return todNs, leap, true
}

// parseDDMMYY parses an RMC date field; the year is expanded with ExpandYear.
func parseDDMMYY(s []byte, pivotYear int) (civilDate, bool) {
	if len(s) != 6 {
		return civilDate{}, false
	}
	for i := 0; i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			return civilDate{}, false
		}
	}
	d := civilDate{
		Day:   int(s[0]-'0')*10 + int(s[1]-'0'),
		Month: int(s[2]-'0')*10 + int(s[3]-'0'),
		Year:  ExpandYear(int(s[4]-'0')*10+int(s[5]-'0'), pivotYear),
	}
	return d, d.valid()
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// parseInt parses a decimal integer field (optional sign, surrounding
// spaces); empty, malformed or beyond ±999999999 → ok=false.
func parseInt(b []byte) (int, bool) {
	b = trimSpace(b)
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseFloat parses a finite decimal field; empty or malformed → ok=false.
// (string(b) passed straight to strconv does not allocate unless the field
// is malformed.)
func parseFloat(b []byte) (float64, bool) {
	b = trimSpace(b)
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b { // no "Inf", "NaN", hex or '_' forms
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// parseLatLon parses an NMEA (d)ddmm.mmmm coordinate with its hemisphere
// letter into signed degrees (north and east positive).
func parseLatLon(v, hemi []byte, max float64) (float64, bool) {
	f, ok := parseFloat(v)
	if !ok || f < 0 {
		return 0, false
	}
	deg := float64(int(f / 100))
	minutes := f - deg*100
	if minutes >= 60 {
		return 0, false
	}
	x := deg + minutes/60
	switch string(hemi) {
	case "N", "E":
	case "S", "W":
		x = -x
	default:
		return 0, false
	}
	if x > max || x < -max {
		return 0, false
	}
	return x, true
}
