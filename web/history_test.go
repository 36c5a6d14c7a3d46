package web

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// snap is a synchronised snapshot at Unix second t whose counters grow
// with t: replies 5/s, drops 1/s, one PPS pulse missed every 10 s.
func snap(t int64) *ctl.Snapshot {
	s := &ctl.Snapshot{Time: time.Unix(t, 0), State: "pps", Synchronised: true, RefID: "PPS", Stratum: 1,
		OffsetNs: float64(t%7) - 3, JitterNs: 2, FreqPPB: 1500, RootDispersionNs: 1000 + t%5}
	s.PPS.Missed = uint64(t / 10)
	s.Server.Counts.Outcomes[ntpserve.OutReply] = uint64(5 * t)
	s.Server.Counts.Outcomes[ntpserve.OutDropRate] = uint64(t)
	return s
}

const t0 = 1_800_000_000 // a minute boundary: 1800000000 % 60 == 0

func TestRingWraps(t *testing.T) {
	h := NewHistory()
	n := int64(SecondsKept + 150)
	for i := range n {
		if _, ok := h.Add(snap(t0 + i)); !ok {
			t.Fatalf("Add(t0+%d) = false, want a new sample", i)
		}
	}
	if _, ok := h.Add(snap(t0 + n - 1)); ok {
		t.Errorf("Add of the same snapshot time twice = true, want false")
	}
	ss := h.Seconds(math.MinInt64)
	if len(ss) != SecondsKept || ss[0].T != t0+n-SecondsKept || ss[len(ss)-1].T != t0+n-1 {
		t.Fatalf("Seconds: %d samples %d…%d, want %d samples %d…%d", len(ss), ss[0].T, ss[len(ss)-1].T, SecondsKept, t0+n-SecondsKept, t0+n-1)
	}
	last := ss[len(ss)-1]
	if last.ReqPerS[GroupReplied] != 5 || last.ReqPerS[GroupDropped] != 1 || last.ReqPerS[GroupKoD] != 0 {
		t.Errorf("requests/s = %v, want replied 5, dropped 1, kod 0", last.ReqPerS)
	}
	if last.BoundNs != float32(1000+(t0+n-1)%5) {
		t.Errorf("bound = %v, want %v", last.BoundNs, 1000+(t0+n-1)%5)
	}
	ms := h.Minutes(math.MinInt64)
	// Complete minutes only: 3750 s is 62 whole minutes, the 63rd in progress.
	if len(ms) != 62 || ms[0].T != t0 || ms[61].T != t0+61*60 {
		t.Fatalf("Minutes: %d, first %d last %d; want 62 from %d", len(ms), ms[0].T, ms[len(ms)-1].T, t0)
	}
	// The first minute has no rate for its first second (nothing before).
	if got := ms[1].MissedPerS; math.Abs(float64(got)-0.1) > 1e-6 {
		t.Errorf("minute's missed/s = %v, want 0.1", got)
	}
	if got := ms[1].BoundNs; got != 1004 {
		t.Errorf("minute's bound = %v, want the minute's max 1004", got)
	}

	// The day ring wraps too (the minute in progress is not in it).
	h2 := NewHistory()
	for i := range int64(MinutesKept+5) * 60 {
		h2.Add(snap(t0 + i))
	}
	if ms := h2.Minutes(math.MinInt64); len(ms) != MinutesKept || ms[0].T != t0+4*60 {
		t.Errorf("day ring: %d minutes from %d, want %d from %d", len(ms), ms[0].T, MinutesKept, t0+4*60)
	}
}

func TestHistoryTimeGoesBack(t *testing.T) {
	h := NewHistory()
	for i := range int64(300) {
		h.Add(snap(t0 + i))
	}
	// A step back by 100 s: what now lies in the future goes.
	h.Add(snap(t0 + 200))
	ss := h.Seconds(math.MinInt64)
	if got := ss[len(ss)-1].T; got != t0+200 || len(ss) != 201 {
		t.Errorf("after a step back: %d samples, last %d; want 201, last %d", len(ss), got, t0+200)
	}
	for _, m := range h.Minutes(math.MinInt64) {
		if m.T >= t0+180 {
			t.Errorf("minute %d kept after the clock went back to %d", m.T, t0+200)
		}
	}
}

func TestPersistRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history")
	h := NewHistory()
	for i := range int64(10 * 60) {
		h.Add(snap(t0 + i))
	}
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	want := h.Minutes(math.MinInt64)
	st, _ := os.Stat(path)
	if st.Size() != int64(len(fileMagic)+4+len(want)*sampleBytes+4) {
		t.Errorf("file size %d, want %d", st.Size(), len(fileMagic)+4+len(want)*sampleBytes+4)
	}

	// After a reboot 5 minutes later: the loaded minutes show at once,
	// and join the ring at the first synchronised snapshot.
	h2 := NewHistory()
	if err := h2.Load(path); err != nil {
		t.Fatal(err)
	}
	if got := h2.Minutes(math.MinInt64); len(got) != len(want) {
		t.Errorf("before sync: %d minutes, want the %d loaded", len(got), len(want))
	}
	un := snap(0) // booted in 1970, unsynchronised: nothing merged
	un.Synchronised = false
	h2.Add(un)
	restart := int64(t0 + 15*60)
	for i := range int64(2 * 60) {
		h2.Add(snap(restart + i))
	}
	got := h2.Minutes(math.MinInt64)
	if len(got) < len(want) {
		t.Fatalf("after sync: %d minutes, want at least %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.T != w.T || g.OffsetNs != w.OffsetNs || g.BoundNs != w.BoundNs || g.ReqPerS != w.ReqPerS {
			t.Errorf("minute %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestLoadDiscardsImplausible(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history")
	h := NewHistory()
	for i := range int64(5 * 60) {
		h.Add(snap(t0 + i))
	}
	h.Save(path)
	for _, tc := range []struct {
		name string
		now  int64
		keep int
	}{
		{"file from the future", t0 - 3600, 0},
		{"file from two days ago", t0 + 2*86400, 0},
		{"file from an hour ago", t0 + 3600, 4},
	} {
		h2 := NewHistory()
		if err := h2.Load(path); err != nil {
			t.Fatal(err)
		}
		h2.Add(snap(tc.now))
		if got := len(h2.Minutes(math.MinInt64)); got != tc.keep {
			t.Errorf("%s: %d minutes kept, want %d", tc.name, got, tc.keep)
		}
	}
}

func TestLoadCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	h := NewHistory()
	for i := range int64(3 * 60) {
		h.Add(snap(t0 + i))
	}
	h.Save(good)
	data, _ := os.ReadFile(good)
	flip := append([]byte(nil), data...)
	flip[20] ^= 1
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"other file", []byte("0.123\n")},
		{"truncated", data[:len(data)-7]},
		{"bit flipped", flip},
		{"count too large", append([]byte(fileMagic), 0xff, 0xff, 0, 0, 0, 0, 0, 0)},
	} {
		p := filepath.Join(dir, tc.name)
		os.WriteFile(p, tc.data, 0o644)
		h2 := NewHistory()
		if err := h2.Load(p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Load = %v, want ErrCorrupt", tc.name, err)
		}
		if n := len(h2.Minutes(math.MinInt64)); n != 0 {
			t.Errorf("%s: %d minutes after a corrupt file, want 0", tc.name, n)
		}
	}
	if err := NewHistory().Load(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: Load = %v, want fs.ErrNotExist", err)
	}
}

// FuzzDecode: no input makes decode panic, and what it accepts is written
// back byte for byte by Save.
func FuzzDecode(f *testing.F) {
	h := NewHistory()
	for i := range int64(3 * 60) {
		h.Add(snap(t0 + i))
	}
	p := filepath.Join(f.TempDir(), "h")
	h.Save(p)
	seed, _ := os.ReadFile(p)
	f.Add(seed)
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := decode(data)
		if err != nil {
			return
		}
		h := NewHistory()
		h.pending = ms
		out := filepath.Join(t.TempDir(), "h")
		if err := h.Save(out); err != nil {
			t.Fatal(err)
		}
		back, _ := os.ReadFile(out)
		if string(back) != string(data) {
			t.Errorf("decode accepted %d bytes that Save writes back as %d different ones", len(data), len(back))
		}
	})
}
