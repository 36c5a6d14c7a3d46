package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
)

// DefaultMaxViewers is how many pages may follow the live stream at once
// when Config.MaxViewers is 0: enough for a household, little for a Pi Zero.
const DefaultMaxViewers = 8

// SaveEvery is how often the day's history is written (SD-card wear: 96
// writes of about 80 KB a day), besides at shutdown.
const SaveEvery = 15 * time.Minute

// writeTimeout bounds each write to a viewer: one that stopped reading is
// dropped, never waited for.
const writeTimeout = 10 * time.Second

// Config is what the page shows and how.
type Config struct {
	// Get is the daemon's status snapshot now (built once a second).
	Get     func() *ctl.Snapshot
	History *History
	// HistoryFile is where the day's history is kept ("": not kept).
	HistoryFile string
	// ShowPosition shows the receiver's position as it reports it;
	// otherwise rounded to 0.01° (about 1 km) and 100 m of altitude.
	ShowPosition bool
	// MaxViewers bounds the live streams at once (0: DefaultMaxViewers);
	// more get 503.
	MaxViewers int
	// HoldoverMax is the `holdover` limit (0: until the error bound
	// reaches MaxError), for the holdover time left.
	HoldoverMax time.Duration
	MaxError    time.Duration
	Log         *slog.Logger
}

// Server is the status page: an http.Handler, and Run, which samples the
// status once a second for the history and the live stream.
type Server struct {
	cfg     Config
	viewers chan struct{}

	mu     sync.Mutex
	now    []byte        // the latest "now" payload (JSON)
	update chan struct{} // closed when now is replaced
}

// New returns the page for cfg.
func New(cfg Config) *Server {
	if cfg.MaxViewers <= 0 {
		cfg.MaxViewers = DefaultMaxViewers
	}
	if cfg.History == nil {
		cfg.History = NewHistory()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, viewers: make(chan struct{}, cfg.MaxViewers), update: make(chan struct{})}
}

// pollEvery is how often Run looks for a new snapshot: the daemon builds
// one a second on its own ticker, and polling at that same rate would
// alias (a second seen twice, the next one missed).
const pollEvery = 250 * time.Millisecond

// Run takes each new status snapshot until ctx is done, keeping the
// history and waking the viewers; it saves the history every SaveEvery
// and when it stops.
func (s *Server) Run(ctx context.Context) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var save <-chan time.Time
	if s.cfg.HistoryFile != "" {
		t := time.NewTicker(SaveEvery)
		defer t.Stop()
		save = t.C
	}
	s.Tick()
	for {
		select {
		case <-ctx.Done():
			s.save()
			return nil
		case <-tick.C:
			s.Tick()
		case <-save:
			s.save()
		}
	}
}

func (s *Server) save() {
	if s.cfg.HistoryFile == "" {
		return
	}
	if err := s.cfg.History.Save(s.cfg.HistoryFile); err != nil {
		s.cfg.Log.Warn("web: history not saved", "err", err)
	}
}

// Tick takes the snapshot if it is new: the history records it, and the
// viewers get it.
func (s *Server) Tick() {
	snap := s.cfg.Get()
	if snap == nil {
		return
	}
	smp, ok := s.cfg.History.Add(snap)
	if !ok {
		return
	}
	b := s.payload(snap, &smp)
	s.mu.Lock()
	s.now = b
	close(s.update)
	s.update = make(chan struct{})
	s.mu.Unlock()
}

// latest is the last payload and a channel closed when it is replaced.
func (s *Server) latest() ([]byte, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now, s.update
}

// payload is what the page gets each second (the "now" event, and
// /status.json): the snapshot, its position rounded unless configured
// otherwise, the second's sample (nil: none), the last complete minute,
// and the holdover figures.
func (s *Server) payload(snap *ctl.Snapshot, smp *Sample) []byte {
	cp := *snap
	if !s.cfg.ShowPosition {
		cp.GPS.LatDeg = roundTo(cp.GPS.LatDeg, 0.01)
		cp.GPS.LonDeg = roundTo(cp.GPS.LonDeg, 0.01)
		cp.GPS.AltM = roundTo(cp.GPS.AltM, 100)
	}
	p := struct {
		Snap         *ctl.Snapshot   `json:"snap"`
		Sec          json.RawMessage `json:"sec,omitempty"`
		Min          json.RawMessage `json:"min,omitempty"`
		Groups       []string        `json:"groups"`
		Position     string          `json:"position"` // "exact" or "rounded"
		HoldoverMaxS float64         `json:"holdover_max_s"`
		MaxErrorNs   int64           `json:"max_error_ns"`
	}{Snap: &cp, Groups: groupNames[:], Position: "rounded",
		HoldoverMaxS: s.cfg.HoldoverMax.Seconds(), MaxErrorNs: s.cfg.MaxError.Nanoseconds()}
	if s.cfg.ShowPosition {
		p.Position = "exact"
	}
	if smp != nil {
		p.Sec = appendRow(nil, *smp, smp.T)
	}
	if m, ok := s.cfg.History.LastMinute(); ok {
		p.Min = appendRow(nil, m, m.T)
	}
	b, err := json.Marshal(p)
	if err != nil {
		// Only NaN or Inf could do this; the page says so rather than stall.
		s.cfg.Log.Warn("web: status not encoded", "err", err)
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return b
}

func roundTo(v, step float64) float64 {
	r := math.Round(v/step) * step
	// 0.01 steps in binary: cut the float noise for the JSON.
	f, _ := strconv.ParseFloat(strconv.FormatFloat(r, 'f', 6, 64), 64)
	return f
}

// appendRow writes a sample as a JSON array: t, offset, bound, jitter,
// freq, missed/s, then requests/s by Group; null for NaN. Five
// significant digits: what a plot can show.
func appendRow(b []byte, s Sample, t int64) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, t, 10)
	for _, v := range append([]float32{s.OffsetNs, s.BoundNs, s.JitterNs, s.FreqPPB, s.MissedPerS}, s.ReqPerS[:]...) {
		b = append(b, ',')
		if isNaN32(v) || math.IsInf(float64(v), 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, float64(v), 'g', 5, 32)
	}
	return append(b, ']')
}

// appendSeries writes samples as {"t0":T,"rows":[[dt,…],…]}: each row's
// first number is seconds since the row before (the first: since t0).
func appendSeries(b []byte, ss []Sample) []byte {
	var t0 int64
	if len(ss) > 0 {
		t0 = ss[0].T
	}
	b = fmt.Appendf(b, `{"t0":%d,"rows":[`, t0)
	prev := t0
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRow(b, s, s.T-prev)
		prev = s.T
	}
	return append(b, "]}"...)
}

// historyPayload is the "history" event: the last hour of seconds and
// the last day of minutes, as of the latest sample.
func (s *Server) historyPayload() []byte {
	h := s.cfg.History
	var now int64
	if ss := h.Seconds(math.MinInt64); len(ss) > 0 {
		now = ss[len(ss)-1].T
	}
	b := []byte(`{"sec":`)
	b = appendSeries(b, h.Seconds(now-SecondsKept+1))
	b = append(b, `,"min":`...)
	b = appendSeries(b, h.Minutes(now-MinutesKept*60))
	return append(b, '}')
}

//go:embed static
var static embed.FS

// asset is an embedded file, with its gzip form when that is smaller.
type asset struct {
	body, gz []byte
	ctype    string
	etag     string
}

var assets = func() map[string]*asset {
	m := map[string]*asset{}
	types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	ents, err := static.ReadDir("static")
	if err != nil {
		panic(err)
	}
	for _, e := range ents {
		body, err := static.ReadFile("static/" + e.Name())
		if err != nil {
			panic(err)
		}
		a := &asset{body: body, ctype: types[path.Ext(e.Name())]}
		sum := sha256.Sum256(body)
		a.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		if z.Len() < len(body) {
			a.gz = z.Bytes()
		}
		name := "/" + e.Name()
		if e.Name() == "index.html" {
			name = "/"
		}
		m[name] = a
	}
	return m
}()

// securityHeaders go on every response: scripts, styles and connections
// from this origin only (no inline script or style), no framing, no
// sniffing, no referrer.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// ServeHTTP serves the page (read-only: GET and HEAD).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "gpsntp status page: read-only (GET and HEAD only)", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/events":
		s.serveEvents(w, r)
		return
	case "/status.json":
		b, _ := s.latest()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodGet {
			w.Write(b)
		}
		return
	}
	a, ok := assets[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache") // revalidate: an upgrade changes them
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, e := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(strings.SplitN(e, ";", 2)[0]) == "gzip" {
			return true
		}
	}
	return false
}

// serveEvents is the live stream: the history once, then the status each
// second, until the viewer leaves. At most MaxViewers at once.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case s.viewers <- struct{}{}:
		defer func() { <-s.viewers }()
	default:
		w.Header().Set("Retry-After", "30")
		http.Error(w, fmt.Sprintf("gpsntp status page: too many viewers (at most %d at once); try again later", s.cfg.MaxViewers), http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	var out io.Writer = w
	var zw *gzip.Writer
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		h.Set("Vary", "Accept-Encoding")
		zw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		out = zw
	}
	send := func(event string, data []byte) error {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		var b bytes.Buffer
		fmt.Fprintf(&b, "event: %s\ndata: ", event)
		b.Write(data)
		b.WriteString("\n\n")
		if _, err := out.Write(b.Bytes()); err != nil {
			return err
		}
		if zw != nil {
			if err := zw.Flush(); err != nil {
				return err
			}
		}
		return rc.Flush()
	}
	if err := send("history", s.historyPayload()); err != nil {
		return
	}
	cur, update := s.latest()
	for {
		if cur != nil {
			if err := send("now", cur); err != nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-update:
			cur, update = s.latest()
		}
	}
}
