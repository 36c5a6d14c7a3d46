package ctl

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// EventLog is a log/slog handler in front of another (the daemon's stderr
// text handler). It keeps the last records in a fixed ring for the console's
// and gpsntpctl's log view, and throttles repeats: a record with the same
// level, message and attributes as one passed on less than Window ago is
// counted, not passed on; the next one passed on carries repeated=N. Time
// comes from the records (slog sets Record.Time), so tests control it.
type EventLog struct {
	core  *eventCore
	attrs string // pre-formatted WithAttrs
	next  slog.Handler
}

type eventCore struct {
	mu     sync.Mutex
	ring   []Event
	start  int
	n      int
	window time.Duration
	seen   map[string]*repeat
}

type repeat struct {
	lastPassed time.Time
	suppressed int
}

// maxRepeatKeys bounds the throttle's memory; past it the table is reset
// (a flood of distinct messages is not throttled, but memory stays fixed).
const maxRepeatKeys = 1024

// NewEventLog returns a handler keeping the last size events and passing
// records on to next, with repeats within window throttled (0: no
// throttling).
func NewEventLog(next slog.Handler, size int, window time.Duration) *EventLog {
	if size <= 0 {
		size = 64
	}
	return &EventLog{next: next, core: &eventCore{ring: make([]Event, size), window: window, seen: map[string]*repeat{}}}
}

// Enabled reports whether the next handler takes records at level l.
func (h *EventLog) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle records r in the ring and passes it on unless it is a repeat.
func (h *EventLog) Handle(ctx context.Context, r slog.Record) error {
	attrs := h.formatAttrs(r)
	key := r.Level.String() + "\x00" + r.Message + "\x00" + attrs
	c := h.core
	c.mu.Lock()
	if c.window > 0 {
		if rep, ok := c.seen[key]; ok && r.Time.Sub(rep.lastPassed) < c.window {
			rep.suppressed++
			c.mu.Unlock()
			return nil
		}
	}
	suppressed := 0
	if c.window > 0 {
		if rep, ok := c.seen[key]; ok {
			suppressed = rep.suppressed
			rep.lastPassed, rep.suppressed = r.Time, 0
		} else {
			if len(c.seen) >= maxRepeatKeys {
				clear(c.seen)
			}
			c.seen[key] = &repeat{lastPassed: r.Time}
		}
	}
	ev := Event{Time: r.Time, Level: r.Level.String(), Msg: r.Message, Attrs: attrs}
	if suppressed > 0 {
		ev.Attrs = strings.TrimSpace(ev.Attrs + " repeated=" + itoa(suppressed))
	}
	i := (c.start + c.n) % len(c.ring)
	if c.n < len(c.ring) {
		c.n++
	} else {
		c.start = (c.start + 1) % len(c.ring)
	}
	c.ring[i] = ev
	c.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", suppressed))
	}
	return h.next.Handle(ctx, r)
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// formatAttrs renders the handler's and the record's attributes as slog's
// text handler does ("k=v k2=v2").
func (h *EventLog) formatAttrs(r slog.Record) string {
	var buf bytes.Buffer
	th := slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
			return slog.Attr{}
		}
		return a
	}})
	rr := slog.NewRecord(time.Time{}, r.Level, "", 0)
	r.Attrs(func(a slog.Attr) bool { rr.AddAttrs(a); return true })
	th.Handle(context.Background(), rr)
	s := strings.TrimSpace(buf.String())
	if h.attrs != "" {
		s = strings.TrimSpace(h.attrs + " " + s)
	}
	return s
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *EventLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	r := slog.NewRecord(time.Time{}, 0, "", 0)
	r.AddAttrs(attrs...)
	tmp := &EventLog{core: h.core}
	s := strings.TrimSpace(h.attrs + " " + tmp.formatAttrs(r))
	return &EventLog{core: h.core, attrs: s, next: h.next.WithAttrs(attrs)}
}

// WithGroup is passed through to the next handler; the ring records the
// attributes ungrouped.
func (h *EventLog) WithGroup(name string) slog.Handler {
	return &EventLog{core: h.core, attrs: h.attrs, next: h.next.WithGroup(name)}
}

// Events returns the ring's events, oldest first.
func (h *EventLog) Events() []Event {
	c := h.core
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Event, c.n)
	for i := range c.n {
		out[i] = c.ring[(c.start+i)%len(c.ring)]
	}
	return out
}
