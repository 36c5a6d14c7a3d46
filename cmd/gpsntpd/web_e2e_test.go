package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/gpsntp/gpsntp/web"
)

// Issue 15, done-when 1: the status page of a running gpsntpd -sim, in a
// real headless Chromium at phone width. Every plot's data must match the
// daemon's own JSON status (the control socket's, sampled alongside), the
// 24 h plots the history file the daemon read at start; live values must
// change within 3 s; no console error, no request off the page's origin,
// no horizontal overflow.
//
// GPSNTP_SCREENSHOT=FILE also writes the page as a PNG (docs/status-page.png).

// chromiumPath is Debian's chromium, or the test is skipped.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if full, err := exec.LookPath(p); err == nil {
			return full
		}
	}
	t.Skip("chromium not installed (Debian: apt-get install chromium; .ci/run installs it): the status page is not tested in a browser")
	return ""
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// statusLog keeps every snapshot the control socket gave, by served second.
type statusLog struct {
	mu sync.Mutex
	by map[int64]*ctl.Snapshot
}

func (l *statusLog) at(t int64) *ctl.Snapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.by[t]
}

// caughtUp waits up to d for the poller to have seen the second t or a
// later one, and returns the status of second t, nil if the poller never
// saw that second. The page can show a second before the poller, 200 ms
// apart, has fetched it; a loaded machine can make the poller skip one.
func (l *statusLog) caughtUp(t int64, d time.Duration) *ctl.Snapshot {
	for end := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		l.mu.Lock()
		s := l.by[t]
		past := s != nil
		for ts := range l.by {
			past = past || ts > t
		}
		l.mu.Unlock()
		if past || time.Now().After(end) {
			return s
		}
	}
}

func (l *statusLog) follow(ctx context.Context, sock string) {
	for ctx.Err() == nil {
		if s, err := ctl.Fetch(sock, 2*time.Second); err == nil {
			l.mu.Lock()
			l.by[s.Time.Unix()] = s
			l.mu.Unlock()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// seedHistory writes a history file with 3 hours of minutes ending 10
// minutes ago, and returns its minutes.
func seedHistory(t *testing.T, path string) []web.Sample {
	h := web.NewHistory()
	end := time.Now().Add(-10 * time.Minute).Unix()
	for ts := end - 3*3600; ts < end; ts++ {
		s := &ctl.Snapshot{Time: time.Unix(ts, 0), State: "pps", Synchronised: true, RefID: "PPS", Stratum: 1,
			OffsetNs: 40 * math.Sin(float64(ts)/600), JitterNs: 15 + float64(ts%900)/100, FreqPPB: 2500 + float64(ts%3600)/10,
			RootDispersionNs: 900 + ts%120}
		s.PPS.Missed = uint64(ts / 300)
		s.Server.Counts.Outcomes[ntpserve.OutReply] = uint64(3 * ts)
		s.Server.Counts.Outcomes[ntpserve.OutDropRate] = uint64(ts / 20)
		h.Add(s)
	}
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	return h.Minutes(math.MinInt64)
}

// drawn is what one plot drew: line name → [t, v] points.
type drawn struct {
	Range string                   `json:"range"`
	Lines map[string][][2]*float64 `json:"lines"`
}

func readPlots(ctx context.Context, t *testing.T) map[string]drawn {
	t.Helper()
	js, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.gpsntp.plots)`))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]drawn
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		t.Fatalf("plots: %v in %.300s", err, js)
	}
	return p
}

// close5 says whether a plotted value (5 significant digits of a
// float32) is the status value.
func close5(plotted, want float64) bool {
	return math.Abs(plotted-want) <= 1e-4*math.Abs(want)+1e-3
}

func TestWebPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	chromium := chromiumPath(t)
	dir := t.TempDir()
	seeded := seedHistory(t, filepath.Join(dir, "history"))
	port := freeTCPPort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	d, sock := launchWithConfig(t, fmt.Sprintf("driftfile %s\nweb 127.0.0.1:%d\nrestrict default kod limited\ndiscard average 0 minimum 0\n", filepath.Join(dir, "drift"), port))

	wait, _ := time.ParseDuration(os.Getenv("GPSNTP_SCREENSHOT_WAIT"))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute+wait)
	defer cancel()
	statuses := &statusLog{by: map[int64]*ctl.Snapshot{}}
	go statuses.follow(ctx, sock)
	// Clients, so that the requests plot and the top talkers have data.
	go func() {
		for ctx.Err() == nil {
			ntp.QueryWithOptions(d.addr, ntp.QueryOptions{Timeout: 500 * time.Millisecond})
			time.Sleep(150 * time.Millisecond)
		}
	}()
	waitSynced(t, d, "PPS", 90*time.Second)
	// Let the offset history have some synchronised seconds.
	time.Sleep(5 * time.Second)
	if resp, err := http.Get(base + "/"); err != nil {
		t.Fatalf("status page not served: %v", err)
	} else {
		resp.Body.Close()
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(390, 844), chromedp.Flag("disable-gpu", true))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	var mu sync.Mutex
	var problems, requests []string
	listen := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, fmt.Sprintf("exception: %s (line %d)", ev.ExceptionDetails.Text, ev.ExceptionDetails.LineNumber))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("log %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		}
	}
	// chromedp enables the Log and Network domains itself.
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithListener(listen))
	defer bcancel()
	if err := chromedp.Do(bctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#now dd"),
	); err != nil {
		t.Fatal(err)
	}
	// Live: the served time shown changes within 3 s, as does the offset.
	shown := func(id string) string {
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('`+id+`').textContent`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := shown("now-time-utc")
	changed := false
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if shown("now-time-utc") != first {
			changed = true
			break
		}
	}
	if !changed {
		t.Errorf("the page's time stayed %q for 3 s", first)
	}
	// Wait for a few seconds of plotted data against the sampled statuses.
	time.Sleep(4 * time.Second)

	// The hour: every point of every plot that the control socket also
	// saw is that status's value; rates are the counters' differences.
	plots := readPlots(bctx, t)
	cols := map[string]func(cur, prev *ctl.Snapshot) (float64, bool){
		"offset": func(c, _ *ctl.Snapshot) (float64, bool) { return c.OffsetNs, true },
		"jitter": func(c, _ *ctl.Snapshot) (float64, bool) { return c.JitterNs, true },
		"freq":   func(c, _ *ctl.Snapshot) (float64, bool) { return c.FreqPPB, true },
		"missed": func(c, p *ctl.Snapshot) (float64, bool) {
			if p == nil {
				return 0, false
			}
			return float64(c.PPS.Missed-p.PPS.Missed) / c.Time.Sub(p.Time).Seconds(), true
		},
		"replied": func(c, p *ctl.Snapshot) (float64, bool) {
			if p == nil {
				return 0, false
			}
			o := func(s *ctl.Snapshot) uint64 {
				return s.Server.Counts.Outcomes[ntpserve.OutReply] + s.Server.Counts.Outcomes[ntpserve.OutControl]
			}
			return float64(o(c)-o(p)) / c.Time.Sub(p.Time).Seconds(), true
		},
	}
	linePlot := map[string]string{"offset": "offset", "jitter": "jitter", "freq": "freq", "missed": "missed", "replied": "requests"}
	for line, f := range cols {
		pl, ok := plots[linePlot[line]]
		if !ok || pl.Range != "1h" {
			t.Errorf("plot %s: not drawn for 1 h (%+v)", linePlot[line], pl)
			continue
		}
		pts := pl.Lines[line]
		matched := 0
		var nonzero bool
		for _, pt := range pts {
			if pt[0] == nil || pt[1] == nil {
				continue
			}
			ts, v := int64(*pt[0]), *pt[1]
			nonzero = nonzero || v != 0
			cur := statuses.at(ts)
			if cur == nil || !cur.Synchronised {
				continue
			}
			want, ok := f(cur, statuses.at(ts-1))
			if !ok {
				continue
			}
			matched++
			if !close5(v, want) {
				t.Errorf("plot %s at %d: %v, status says %v", line, ts, v, want)
			}
		}
		t.Logf("1 h plot %s: %d points, %d checked against the status", line, len(pts), matched)
		if len(pts) < 5 || matched < 3 {
			t.Errorf("plot %s: %d points, %d of them checked against the status; want ≥ 5 and ≥ 3", line, len(pts), matched)
		}
		if line == "replied" && !nonzero {
			t.Errorf("requests plot: all zero while a client queried")
		}
	}

	// The day: the minutes read back from the history file, as written.
	if err := chromedp.Do(bctx, chromedp.Click("#r24h")); err != nil {
		t.Fatal(err)
	}
	plots = readPlots(bctx, t)
	dayCols := map[string]func(s web.Sample) float32{
		"offset": func(s web.Sample) float32 { return s.OffsetNs }, "jitter": func(s web.Sample) float32 { return s.JitterNs },
		"freq": func(s web.Sample) float32 { return s.FreqPPB }, "missed": func(s web.Sample) float32 { return s.MissedPerS },
		"replied": func(s web.Sample) float32 { return s.ReqPerS[web.GroupReplied] },
	}
	for line, f := range dayCols {
		pl := plots[linePlot[line]]
		if pl.Range != "24h" {
			t.Errorf("plot %s: range %q after the 24 h button, want 24h", linePlot[line], pl.Range)
		}
		got := map[int64]float64{}
		for _, pt := range pl.Lines[line] {
			if pt[0] != nil && pt[1] != nil {
				got[int64(*pt[0])] = *pt[1]
			}
		}
		checked := 0
		for _, s := range seeded[1:] { // the first minute has no rates for its first second
			v, ok := got[s.T]
			if !ok {
				t.Errorf("24 h plot %s: no point for the saved minute %d", line, s.T)
				break
			}
			if !close5(v, float64(f(s))) {
				t.Errorf("24 h plot %s at %d: %v, the history file says %v", line, s.T, v, f(s))
			}
			checked++
		}
		t.Logf("24 h plot %s: %d points, %d saved minutes checked", line, len(got), checked)
		if checked < 170 {
			t.Errorf("24 h plot %s: %d saved minutes checked, want 179", line, checked)
		}
	}

	// The sky and the SNR bars show the satellites of the snapshot shown.
	var sky struct {
		Time string `json:"time"`
		Sky  []int  `json:"sky"`
		Bars []int  `json:"bars"`
		Rows int    `json:"rows"`
	}
	// The page may show a second the poller has not fetched yet, or one it
	// skipped on a loaded machine: look again on a later second, but a page
	// that never shows a second the control socket gave fails.
	var s *ctl.Snapshot
	for try := 0; try < 5 && s == nil; try++ {
		if try > 0 {
			time.Sleep(time.Second)
		}
		skyJS, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify({time: window.gpsntp.last().snap.time,
		sky: [...document.querySelectorAll('#sky .satellite')].map(e => +e.dataset.prn),
		bars: [...document.querySelectorAll('#snr rect.bar')].map(e => +e.dataset.prn),
		rows: document.querySelectorAll('#sources tbody tr').length})`))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal([]byte(skyJS), &sky)
		st, _ := time.Parse(time.RFC3339Nano, sky.Time)
		if s = statuses.caughtUp(st.Unix(), 3*time.Second); s == nil {
			t.Logf("the page shows a snapshot at %s the control socket has not given", sky.Time)
		}
	}
	if s == nil {
		t.Errorf("the page showed 5 snapshots the control socket never gave, the last at %s", sky.Time)
	} else {
		var prns []int
		for _, sat := range s.Satellites {
			prns = append(prns, sat.PRN)
		}
		slices.Sort(prns)
		slices.Sort(sky.Sky)
		slices.Sort(sky.Bars)
		if len(prns) == 0 || !slices.Equal(prns, sky.Sky) || !slices.Equal(prns, sky.Bars) {
			t.Errorf("satellites: sky plot %v, SNR bars %v; status %v", sky.Sky, sky.Bars, prns)
		}
		if sky.Rows != len(s.Sources) || sky.Rows == 0 {
			t.Errorf("sources table: %d rows, status has %d sources", sky.Rows, len(s.Sources))
		}
	}

	// Phone width: nothing wider than the screen.
	widths, err := chromedp.Run(bctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(widths) != 2 || widths[1] != 390 || widths[0] > widths[1] {
		t.Errorf("at phone width: scrollWidth, innerWidth = %v; want innerWidth 390 and no overflow", widths)
	}
	if path := os.Getenv("GPSNTP_SCREENSHOT"); path != "" {
		// GPSNTP_SCREENSHOT_WAIT: let the hour plots fill first (e.g. 3m).
		chromedp.Do(bctx, chromedp.Click("#r1h"), chromedp.Sleep(wait+500*time.Millisecond))
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
	if len(requests) < 4 {
		t.Errorf("browser made %d requests (%v), want the page, its script, style and icon, and the stream", len(requests), requests)
	}
	for _, u := range requests {
		if !strings.HasPrefix(u, base+"/") {
			t.Errorf("request off the page's origin: %s", u)
		}
	}
}
