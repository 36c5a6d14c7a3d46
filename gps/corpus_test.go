package gps

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corpusDifferences lists captures where our policy deliberately differs from
// what gpsd reported, with the epochs only gpsd has (missing) and only we
// have (extra). Every entry must be exactly right: a capture that starts to
// match, or differs differently, fails the test.
var corpusDifferences = map[string]struct {
	missing, extra []string
	why            string
}{
	// First epoch with a fix: its GGA comes before its RMC A, and gpsd sends
	// no report with a time for that cycle (it is absent from the .expect even
	// as mode 0/1). The epoch's RMC is status A with a date: we trust it.
	"geos-1m":       {extra: []string{"2010-07-09T07:37:01.000Z"}, why: "first fix epoch (GGA before RMC A)"},
	"haicom-305N":   {extra: []string{"2007-04-08T09:53:04.802Z"}, why: "first fix epoch (GGA before RMC A)"},
	"motorola-t805": {extra: []string{"2007-12-18T21:26:14.879Z"}, why: "first fix epoch (GGA before RMC A)"},
	// gpsd learnt GLL as its cycle ender; this cycle had GSV 3/3 + ZDA
	// instead and gpsd lost the report. RMC A, GGA, ZDA all name the second.
	"gp-320fw-2019-03-28": {extra: []string{"2019-03-28T16:45:19.990Z"}, why: "gpsd lost a cycle without its learnt ender"},
	// The capture ends mid-cycle (RMC A already seen). gpsd reports at cycle
	// end only; we flush the last epoch at end of input, as the daemon does
	// at the burst gap.
	"ch-4701":           {extra: []string{"2008-05-29T12:35:00.000Z"}, why: "truncated last cycle flushed at end of input"},
	"quectel-l76k-nmea": {extra: []string{"2026-08-05T05:53:04.000Z"}, why: "truncated last cycle flushed at end of input"},
	// Three sections out of time order: the first epoch after the backwards
	// jump (15:25 → 14:33) is distrusted by policy (time must advance); the
	// cut-off last cycles of both sections are flushed (see ch-4701).
	"bt451": {
		missing: []string{"2009-12-09T14:33:06.000Z"},
		extra:   []string{"2009-12-09T14:33:08.500Z", "2009-12-09T15:25:08.500Z"},
		why:     "time went backwards; truncated cycles flushed",
	},
	// An epoch whose only time of day is a GLL is not trusted: the Garmin 48
	// stamps GLL one second after the RMC/GGA of the same burst, so GLL time
	// can label a burst with the wrong second. gpsd took the GLL seconds
	// (…:09, :11, …) as the cycle's time; we keep the RMC/GGA seconds.
	"garmin48": {
		missing: []string{"2001-06-06T22:53:09.000Z", "2001-06-06T22:53:11.000Z", "2001-06-06T22:53:13.000Z", "2001-06-06T22:53:15.000Z", "2001-06-06T22:53:17.000Z", "2001-06-06T22:53:33.000Z", "2001-06-06T22:53:35.000Z"},
		extra:   []string{"2001-06-06T22:53:10.000Z", "2001-06-06T22:53:12.000Z", "2001-06-06T22:53:14.000Z", "2001-06-06T22:53:16.000Z", "2001-06-06T22:53:18.000Z", "2001-06-06T22:53:34.000Z"},
		why:     "GLL-only epochs not trusted",
	},
	// The receiver re-phased its reporting from .710 to .408: 10:51:53.408
	// follows 10:51:53.710, time went backwards, the epoch is distrusted.
	"telit-he910": {missing: []string{"2019-03-12T10:51:53.408Z"}, why: "time went backwards (.710 → .408)"},
	// Its GGA is spliced away and the cycle has no RMC: only the GLL names
	// 03:01:30 (same GLL policy as garmin48).
	"triton400": {missing: []string{"2013-04-01T03:01:30.000Z"}, why: "GLL-only epoch not trusted"},
}

// readExpect returns the distinct times of mode ≥ 2 lines of a .expect file
// (the README's "collapse per epoch, take the highest mode").
func readExpect(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	best := map[string]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		if f[1][0] > best[f[0]] {
			best[f[0]] = f[1][0]
		}
	}
	var out []string
	for k, m := range best {
		if m >= '2' {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// decodeFile decodes a capture as gpsntpctl decode does and returns the
// distinct trusted mode ≥ 2 epoch times.
func decodeFile(t *testing.T, path string) ([]string, []Fix, StreamStats) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCapture(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Date.IsZero() {
		t.Fatalf("%s: no # Date: header", path)
	}
	fixes, st := DecodeCapture(c.Data, FloorFromApproxDate(c.Date))
	seen := map[string]bool{}
	var out []string
	for _, f := range fixes {
		if !f.TimeValid || f.Mode < Mode2D {
			continue
		}
		s := strings.Fields(FormatFix(f))[0]
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, fixes, st
}

func diff(a, b []string) (onlyA, onlyB []string) {
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if _, ok := slices.BinarySearch(a, x); !ok {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}

func TestCorpus(t *testing.T) {
	logs, err := filepath.Glob("testdata/nmea/*.log")
	if err != nil || len(logs) == 0 {
		t.Fatalf("no captures in testdata/nmea: %v", err)
	}
	for _, log := range logs {
		name := strings.TrimSuffix(filepath.Base(log), ".log")
		t.Run(name, func(t *testing.T) {
			want := readExpect(t, strings.TrimSuffix(log, ".log")+".expect")
			got, _, st := decodeFile(t, log)
			missing, extra := diff(want, got)
			d := corpusDifferences[name]
			if !slices.Equal(missing, d.missing) || !slices.Equal(extra, d.extra) {
				t.Errorf("epochs: gpsd %d, ours %d\nmissing (gpsd only): %v\nextra (ours only): %v\nstats: %+v",
					len(want), len(got), missing, extra, st)
			}
		})
	}
}
