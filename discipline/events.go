package discipline

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// EventKind says what an Event records.
type EventKind uint8

const (
	// EventStep: the served clock was stepped.
	EventStep EventKind = iota + 1
	// EventState: the engine changed State.
	EventState
	// EventAlarm: an alarm condition (Status.Alarms) was raised or cleared.
	EventAlarm
)

func (k EventKind) String() string {
	switch k {
	case EventStep:
		return "step"
	case EventState:
		return "state"
	case EventAlarm:
		return "alarm"
	}
	return "event?"
}

// Event is one thing the engine did or decided, for the daemon's log and
// event log (Engine.Events). Every clock step and every state change is
// one, with its reason in words a user understands.
type Event struct {
	// AtNs is the host's CLOCK_REALTIME (ns since the Unix epoch) of the
	// input that caused it.
	AtNs int64
	Kind EventKind
	// Step: the served time (ns since the Unix epoch, UTC) just before and
	// just after, and StepNs = AfterNs − BeforeNs: positive, the clock
	// moved forward; negative, back.
	BeforeNs, AfterNs, StepNs int64
	// State: from and to.
	From, To State
	// Alarm: Raised is true when the condition starts, false when it
	// clears; Reason is then the alarm's text.
	Raised bool
	// Reason says why, e.g. "first trusted NMEA time", "no PPS edge paired
	// for 5 s", "receiver time jumped +3600 s: not followed".
	Reason string
}

// String is the event as one log line.
func (ev Event) String() string {
	switch ev.Kind {
	case EventStep:
		return fmt.Sprintf("clock stepped %s (%s → %s): %s", signedSeconds(ev.StepNs),
			fmtUTC(ev.BeforeNs), fmtUTC(ev.AfterNs), ev.Reason)
	case EventState:
		return fmt.Sprintf("state %v → %v: %s", ev.From, ev.To, ev.Reason)
	case EventAlarm:
		if ev.Raised {
			return "alarm: " + ev.Reason
		}
		return "alarm cleared: " + ev.Reason
	}
	return ev.Reason
}

// maxEvents bounds the queue between two Events calls; the oldest are
// dropped (and counted) beyond it.
const maxEvents = 64

// eventQueue is a fixed ring of events.
type eventQueue struct {
	buf     [maxEvents]Event
	head, n int
	dropped uint64
}

func (q *eventQueue) push(ev Event) {
	if q.n == maxEvents {
		q.head = (q.head + 1) % maxEvents
		q.n--
		q.dropped++
	}
	q.buf[(q.head+q.n)%maxEvents] = ev
	q.n++
}

func (q *eventQueue) drain() []Event {
	if q.n == 0 {
		return nil
	}
	out := make([]Event, q.n)
	for i := range out {
		out[i] = q.buf[(q.head+i)%maxEvents]
	}
	q.head, q.n = 0, 0
	return out
}

// Events returns what happened since the last call, oldest first (nil:
// nothing). At most 64 are kept between calls; older ones are dropped and
// counted in Counters.EventsDropped. Call it from the goroutine that calls
// Edge, Fix and Tick, after each of them.
func (e *Engine) Events() []Event { return e.events.drain() }

func (e *Engine) event(ev Event) {
	e.events.push(ev)
	e.cnt.EventsDropped = e.events.dropped
}

// signedSeconds formats ns as seconds with an explicit sign, to the ns:
// "+3600.000000000 s", "-0.000120000 s".
func signedSeconds(ns int64) string {
	sign := "+"
	if ns < 0 {
		sign = "-"
		ns = -ns
	}
	return fmt.Sprintf("%s%d.%09d s", sign, ns/1e9, ns%1e9)
}

// span formats a magnitude of ns for people: "30 s", "1 h 0 min",
// "7305 d 3 h", "250 ms".
func span(ns float64) string {
	a := math.Abs(ns)
	s := int64(math.Round(a / 1e9))
	switch {
	case a < 1e6:
		return fmt.Sprintf("%.0f µs", a/1e3)
	case a < 1e9:
		return fmt.Sprintf("%.0f ms", a/1e6)
	case s < 60:
		// To the ms, without trailing zeros: "2.5 s", "30 s".
		return strconv.FormatFloat(math.Round(a/1e6)/1e3, 'f', -1, 64) + " s"
	case s < 3600:
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%d h %d min", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%d d %d h", s/86400, s%86400/3600)
}

// signedSpan is span with a sign: "+3600 s" style for whole seconds under
// a day is what users compare with ntpd's logs, so seconds are kept.
func signedSpan(ns float64) string {
	sign := "+"
	if ns < 0 {
		sign = "-"
	}
	if a := math.Abs(ns); a >= 1e9 && a < 86400e9 {
		return fmt.Sprintf("%s%.0f s", sign, a/1e9)
	}
	return sign + span(ns)
}

func fmtUTC(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
}

// hhmm is served time ns as "15:04 UTC", for alarms that say since when.
func hhmm(ns int64) string {
	return time.Unix(0, ns).UTC().Format("15:04 UTC")
}
