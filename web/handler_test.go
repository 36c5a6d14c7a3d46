package web

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
)

// page is a Server over a snapshot the test sets, behind a real HTTP
// server.
type page struct {
	srv  *Server
	http *httptest.Server
	cur  atomic.Pointer[ctl.Snapshot]
}

func newPage(t *testing.T, cfg Config) *page {
	p := &page{}
	cfg.Get = p.cur.Load
	p.srv = New(cfg)
	p.http = httptest.NewServer(p.srv)
	t.Cleanup(p.http.Close)
	return p
}

func (p *page) set(s *ctl.Snapshot) { p.cur.Store(s); p.srv.Tick() }

func get(t *testing.T, method, url string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	// No transparent gzip: the test sees what was sent.
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestHeadersAndAssets(t *testing.T) {
	p := newPage(t, Config{})
	p.set(snap(t0))
	for _, path := range []string{"/", "/app.js", "/style.css", "/favicon.svg", "/status.json", "/nope"} {
		resp := get(t, "GET", p.http.URL+path)
		resp.Body.Close()
		h := resp.Header
		for k, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if !strings.Contains(h.Get(k), want) {
				t.Errorf("GET %s: %s = %q, want %q", path, k, h.Get(k), want)
			}
		}
		if strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") {
			t.Errorf("GET %s: CSP allows inline: %q", path, h.Get("Content-Security-Policy"))
		}
		want := http.StatusOK
		if path == "/nope" {
			want = http.StatusNotFound
		}
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	// No inline script or style in the page itself.
	resp := get(t, "GET", p.http.URL+"/")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, bad := range []string{"<script>", "<style", "style=", "onclick", "http://", "https://"} {
		if strings.Contains(string(body), bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	// Gzip when asked, the same bytes once inflated; 304 on a match.
	resp = get(t, "GET", p.http.URL+"/app.js", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("app.js with Accept-Encoding gzip: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(zr)
	resp.Body.Close()
	if string(js) != string(assets["/app.js"].body) {
		t.Errorf("gzipped app.js inflates to %d bytes, want the %d embedded", len(js), len(assets["/app.js"].body))
	}
	resp = get(t, "GET", p.http.URL+"/app.js", "If-None-Match", resp.Header.Get("ETag"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("app.js with its ETag = %d, want 304", resp.StatusCode)
	}
}

func TestReadOnly(t *testing.T) {
	p := newPage(t, Config{})
	p.set(snap(t0))
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		for _, path := range []string{"/", "/events", "/status.json"} {
			resp := get(t, m, p.http.URL+path)
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s = %d, Allow %q; want 405, GET, HEAD", m, path, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
	resp := get(t, "HEAD", p.http.URL+"/")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HEAD / = %d, want 200", resp.StatusCode)
	}
}

// events reads a live stream's events (name, data) as they come.
func events(t *testing.T, resp *http.Response) <-chan [2]string {
	ch := make(chan [2]string, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var name string
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "event: "):
				name = l[len("event: "):]
			case strings.HasPrefix(l, "data: "):
				ch <- [2]string{name, l[len("data: "):]}
			}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan [2]string) [2]string {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return [2]string{}
}

func TestEventsAndViewerLimit(t *testing.T) {
	p := newPage(t, Config{MaxViewers: 2})
	for i := range int64(120) {
		p.set(snap(t0 + i))
	}
	var streams []<-chan [2]string
	for range 2 {
		resp := get(t, "GET", p.http.URL+"/events")
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET /events = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		streams = append(streams, events(t, resp))
	}
	ch := streams[0]
	e := next(t, ch)
	var hist struct {
		Sec struct {
			T0   int64       `json:"t0"`
			Rows [][]float64 `json:"rows"`
		} `json:"sec"`
		Min struct {
			Rows [][]*float64 `json:"rows"`
		} `json:"min"`
	}
	if e[0] != "history" || json.Unmarshal([]byte(e[1]), &hist) != nil {
		t.Fatalf("first event %q %.100s, want the history", e[0], e[1])
	}
	if len(hist.Sec.Rows) != 120 || hist.Sec.T0 != t0 || len(hist.Min.Rows) != 1 {
		t.Errorf("history: %d seconds from %d, %d minutes; want 120 from %d, 1", len(hist.Sec.Rows), hist.Sec.T0, len(hist.Min.Rows), t0)
	}
	if e := next(t, ch); e[0] != "now" || !strings.Contains(e[1], `"sec":[1800000119,`) {
		t.Errorf("second event %q %.200s, want now with the last second", e[0], e[1])
	}
	// A third viewer is refused, in words.
	resp := get(t, "GET", p.http.URL+"/events")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "too many viewers") {
		t.Errorf("third viewer: %d %q, want 503 saying too many viewers", resp.StatusCode, body)
	}
	// Live: each new snapshot reaches every viewer.
	p.set(snap(t0 + 500))
	for i, ch := range streams {
		for {
			e := next(t, ch)
			if e[0] == "now" && strings.Contains(e[1], `"sec":[1800000500,`) {
				break
			}
		}
		_ = i
	}
}

func TestPositionRounded(t *testing.T) {
	s := snap(t0)
	s.GPS.LatDeg, s.GPS.LonDeg, s.GPS.AltM = 52.379189, 4.899431, 12.7
	for _, tc := range []struct {
		show          bool
		lat, lon, alt float64
	}{{false, 52.38, 4.9, 0}, {true, 52.379189, 4.899431, 12.7}} {
		p := newPage(t, Config{ShowPosition: tc.show})
		p.set(s)
		resp := get(t, "GET", p.http.URL+"/status.json")
		var got struct {
			Snap ctl.Snapshot `json:"snap"`
		}
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if g := got.Snap.GPS; g.LatDeg != tc.lat || g.LonDeg != tc.lon || g.AltM != tc.alt {
			t.Errorf("showposition %v: %v %v %v, want %v %v %v", tc.show, g.LatDeg, g.LonDeg, g.AltM, tc.lat, tc.lon, tc.alt)
		}
	}
	if s.GPS.LatDeg != 52.379189 {
		t.Errorf("the daemon's snapshot was changed")
	}
}
