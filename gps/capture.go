package gps

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Capture is an NMEA capture file in the gpsd regression-log format: '#'
// comment lines (a header, and section markers in the middle), the rest the
// bytes exactly as they came down the wire.
type Capture struct {
	// Data is the input with every line starting with '#' removed; all
	// other bytes (line endings, junk, partial lines) are kept.
	Data []byte
	// Date is the "# Date:" header (the submitter's capture date), zero if
	// absent. It is approximate: see FloorFromApproxDate.
	Date time.Time
}

// ParseCapture splits a capture into data and header date.
func ParseCapture(b []byte) (Capture, error) {
	var c Capture
	c.Data = make([]byte, 0, len(b))
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line = b[:i+1]
		}
		b = b[len(line):]
		if len(line) > 0 && line[0] == '#' {
			if c.Date.IsZero() {
				if v, ok := strings.CutPrefix(string(bytes.TrimSpace(line[1:])), "Date:"); ok {
					d, err := ParseDate(v)
					if err != nil {
						return c, fmt.Errorf("capture header %q: %w", bytes.TrimSpace(line), err)
					}
					c.Date = d
				}
			}
			continue
		}
		c.Data = append(c.Data, line...)
	}
	return c, nil
}

// ParseDate parses yyyy-mm-dd, also yyyy-m-d and a trailing "T" (forms seen
// in capture headers), as a UTC date.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "T")
	p := strings.Split(s, "-")
	if len(p) != 3 || len(p[0]) != 4 {
		return time.Time{}, fmt.Errorf("date %q: want yyyy-mm-dd", s)
	}
	var n [3]int
	for i, v := range p {
		x, err := strconv.Atoi(v)
		if err != nil || (i > 0 && (len(v) < 1 || len(v) > 2)) {
			return time.Time{}, fmt.Errorf("date %q: want yyyy-mm-dd", s)
		}
		n[i] = x
	}
	d := civilDate{Year: n[0], Month: n[1], Day: n[2]}
	if !d.valid() {
		return time.Time{}, fmt.Errorf("date %q: no such day", s)
	}
	return time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC), nil
}

// DecodeCapture runs data through a Stream with the given rollover floor
// and returns every epoch, flushing at the end. It is what gpsntpctl decode
// and the corpus tests run.
func DecodeCapture(data []byte, floor time.Time) ([]Fix, StreamStats) {
	s := NewStream(floor)
	fixes := s.Feed(nil, data, 0, 0)
	fixes = s.Flush(fixes)
	return fixes, s.Stats()
}

// FormatFix formats a fix as gpsntpctl decode prints it (the gpsd .expect
// format): RFC 3339 UTC with milliseconds, a space, the mode digit. A leap
// second prints as :60.
func FormatFix(f Fix) string {
	s := f.Time.UTC().Format("2006-01-02T15:04:05.000Z")
	if f.LeapSecond {
		s = s[:17] + "60" + s[19:]
	}
	return s + " " + strconv.Itoa(int(f.Mode))
}
