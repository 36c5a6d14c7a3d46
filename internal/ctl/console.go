package ctl

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Screen size of the console: a dumb 80×24 terminal.
const (
	ScreenRows = 24
	ScreenCols = 80
)

// Escape sequences: the handful every VT100 descendant (and Linux's VT)
// understands. Nothing else is sent.
const (
	escClear    = "\x1b[H\x1b[2J" // home, erase screen
	escEraseEOL = "\x1b[K"
)

func escGoto(row, col int) string { return fmt.Sprintf("\x1b[%d;%dH", row, col) }

// Console runs the live status screen and the line commands on a terminal
// (a serial port at 115200 baud, a VT, a pty). The screen is redrawn at
// most once per Interval, and only the lines that changed are sent, so a
// steady state costs a few hundred bytes a second (115200 baud carries
// 11520). The terminal must be in raw mode (no echo, no line editing; see
// MakeRaw): the console echoes and edits the command line itself, so it
// knows where the cursor is when it redraws.
//
// Writing never blocks the console, nor whoever runs it: a terminal may
// stop taking output for as long as it likes (Scroll Lock on a VT, XOFF or
// CTS low on a serial line). Output goes through a queue of at most
// MaxPending bytes to a writer goroutine; a frame that does not fit is
// dropped whole (Dropped counts them), and the next frame that fits is a
// full redraw, so the screen is right again once the terminal resumes.
type Console struct {
	R   io.Reader
	W   io.Writer
	Get func() *Snapshot // nil result: not ready yet
	// Interval between redraws (default 1 s).
	Interval time.Duration
	// Idle returns from a command's output to the live screen after this
	// long without input (default 60 s).
	Idle time.Duration
	// MaxPending bounds the bytes queued for the terminal (default 8 KiB:
	// a few full screens, 0.7 s at 115200 baud; at least minPending).
	MaxPending int

	prev     []string // rows last drawn (live mode)
	input    []byte
	paused   bool
	pausedAt time.Time
	lastCR   bool
	out      []byte // this step's output, queued whole by flush
	q        *outQueue
	dropped  atomic.Uint64
}

// Dropped is how many frames (redraws, echoes, command outputs) were
// dropped because the terminal was not taking output.
func (c *Console) Dropped() uint64 { return c.dropped.Load() }

// minPending is the least MaxPending: a full screen is about 2 KB, and a
// queue that cannot hold one would drop every full redraw.
const minPending = 4 << 10

// stopGrace is how long Run, when stopped, lets the terminal take what is
// queued (the last frame, the cursor moved below the screen).
const stopGrace = 250 * time.Millisecond

// outQueue is the bounded queue between the console and its writer
// goroutine.
type outQueue struct {
	mu      sync.Mutex
	buf     []byte // queued, not yet handed to the writer
	max     int
	wake    chan struct{} // 1-buffered: buf has data, or closing
	closing bool
}

// put queues b whole, or nothing if it does not fit.
func (q *outQueue) put(b []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.buf)+len(b) > q.max {
		return false
	}
	q.buf = append(q.buf, b...)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// close makes the writer return once the queue is empty.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run writes what is queued to w until close (nil) or a failed write. A
// write blocks for as long as the terminal is stopped; the queue meanwhile
// fills and the console drops frames.
func (q *outQueue) run(w io.Writer) error {
	var spare []byte
	for {
		<-q.wake
		for {
			q.mu.Lock()
			b, closing := q.buf, q.closing
			q.buf = spare[:0]
			q.mu.Unlock()
			if len(b) == 0 {
				if closing {
					return nil
				}
				spare = b
				break
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			spare = b
		}
	}
}

// writeDeadliner is a W whose writes can be given a deadline (an *os.File
// on a pollable tty, a net.Conn).
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// commandHelp is the help view.
var commandHelp = []string{
	"commands (type a word, then Enter):",
	"  status    the status summary",
	"  sats      satellites: PRN, elevation, azimuth, SNR, used",
	"  sources   ntpq -p style billboard: GPS, PPS, configured servers",
	"  clients   NTP server counters by outcome, rates",
	"  log       recent events",
	"  help      this list",
	"  Enter     back to the live screen (also after 60 s without input)",
	"  Ctrl-L    redraw; Ctrl-U erase the line",
}

// Run draws and reads until ctx is done or the terminal fails. When ctx
// is done it queues a last move of the cursor below the screen, gives the
// terminal stopGrace to take it, and returns, even if the terminal takes
// nothing: a W with SetWriteDeadline (an *os.File on a tty, which Go polls)
// gets a deadline of now, which fails the stuck write and ends the writer
// goroutine; on any other W that goroutine stays blocked in its Write
// until the terminal takes output again or W's owner closes it. Either
// way W may be closed as soon as Run returns; a W with SetWriteDeadline
// may be left with a deadline in the past.
func (c *Console) Run(ctx context.Context) error {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Idle <= 0 {
		c.Idle = time.Minute
	}
	switch {
	case c.MaxPending <= 0:
		c.MaxPending = 8 << 10
	case c.MaxPending < minPending:
		c.MaxPending = minPending
	}
	dl, _ := c.W.(writeDeadliner)
	if dl != nil {
		dl.SetWriteDeadline(time.Time{}) // one a previous Run left
	}
	c.q = &outQueue{max: c.MaxPending, wake: make(chan struct{}, 1)}
	werr := make(chan error, 1)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		if err := c.q.run(c.W); err != nil {
			werr <- err
		}
	}()
	defer func() {
		c.write(escGoto(ScreenRows, 1) + "\r\n")
		c.flush()
		c.q.close()
		select {
		case <-wdone:
		case <-time.After(stopGrace):
			if dl != nil {
				dl.SetWriteDeadline(time.Now())
			}
		}
	}()

	in := make(chan []byte, 4)
	rerr := make(chan error, 1)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := c.R.Read(buf)
			if n > 0 {
				b := append([]byte(nil), buf[:n]...)
				select {
				case in <- b:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				rerr <- err
				return
			}
		}
	}()
	tick := time.NewTicker(c.Interval)
	defer tick.Stop()
	c.redraw(true)
	c.flush()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-werr:
			return fmt.Errorf("console: write: %w", err)
		case err := <-rerr:
			if err == io.EOF {
				// Input closed (stdin from /dev/null): keep the screen.
				rerr = nil
				continue
			}
			return fmt.Errorf("console: read: %w", err)
		case b := <-in:
			c.keys(b)
		case now := <-tick.C:
			if c.paused && now.Sub(c.pausedAt) > c.Idle {
				c.paused = false
				c.prev = nil
			}
			if !c.paused {
				c.redraw(c.prev == nil)
			}
		}
		c.flush()
	}
}

// write adds s to this step's output.
func (c *Console) write(s string) { c.out = append(c.out, s...) }

// flush queues this step's output as one frame. A frame the queue has no
// room for is dropped; the screen is then unknown, so the next frame is a
// full redraw of the live screen (a command's output that was dropped is
// not shown late).
func (c *Console) flush() {
	if len(c.out) == 0 {
		return
	}
	if !c.q.put(c.out) {
		c.dropped.Add(1)
		c.prev = nil
		c.paused = false
	}
	c.out = c.out[:0]
}

func (c *Console) prompt() string {
	if c.paused {
		return "[Enter: live screen] > " + string(c.input)
	}
	return "> " + string(c.input)
}

// keys handles typed bytes: printable characters are echoed and collected,
// Backspace/DEL erases, Ctrl-U erases the line, Ctrl-L redraws, CR or LF
// runs the command (CR LF counts once).
func (c *Console) keys(b []byte) {
	for _, k := range b {
		cr := c.lastCR
		c.lastCR = k == '\r'
		switch {
		case k == '\n' && cr:
		case k == '\r' || k == '\n':
			cmd := strings.ToLower(strings.TrimSpace(string(c.input)))
			c.input = c.input[:0]
			// The echo so far, then the command's screen: each its own
			// frame, so a paste of many commands is not one huge frame.
			c.flush()
			c.command(cmd)
			c.flush()
		case k == 0x7f || k == 0x08:
			if len(c.input) > 0 {
				c.input = c.input[:len(c.input)-1]
				c.write("\b \b")
			}
		case k == 0x15: // Ctrl-U
			c.input = c.input[:0]
			c.write("\r" + c.prompt() + escEraseEOL)
		case k == 0x0c: // Ctrl-L
			c.prev = nil
			if !c.paused {
				c.flush()
				c.redraw(true)
				c.flush()
			}
		case k >= 0x20 && k < 0x7f:
			if len(c.input) < maxInput {
				c.input = append(c.input, k)
				c.out = append(c.out, k)
			}
		}
	}
}

// maxInput is the longest command line kept; further keys are ignored.
const maxInput = 40

// command runs one command line.
func (c *Console) command(cmd string) {
	var lines []string
	switch cmd {
	case "", "live", "screen", "q", "quit":
		c.paused = false
		c.redraw(true)
		return
	case "help", "?":
		lines = commandHelp
	default:
		s := c.Get()
		switch {
		case s == nil:
			lines = []string{"daemon starting, no status yet"}
		case cmd == "log":
			lines = LogLines(s, ScreenRows-3)
		default:
			var b strings.Builder
			if err := Render(&b, cmd, s); err != nil {
				lines = []string{fmt.Sprintf("unknown command %q; type help", cmd)}
			} else {
				lines = strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
			}
		}
	}
	if len(lines) > ScreenRows-2 {
		lines = append(lines[:ScreenRows-3], fmt.Sprintf("(%d more lines: gpsntpctl shows them all)", len(lines)-(ScreenRows-3)))
	}
	c.paused, c.pausedAt = true, time.Now()
	c.prev = nil
	c.write(escClear)
	for _, l := range lines {
		c.write(fit(l) + "\r\n")
	}
	c.write(escGoto(ScreenRows, 1) + c.prompt() + escEraseEOL)
}

// ScreenLines is the live screen, ScreenRows-1 rows (the last row is the
// prompt): the status view, the satellites in two lines, recent events.
func ScreenLines(s *Snapshot) []string {
	rows := make([]string, 0, ScreenRows-1)
	if s == nil {
		rows = append(rows, "gpsntp: starting...")
	} else {
		rows = append(rows, StatusLines(s)...)
		rows = append(rows, "")
		rows = append(rows, satsCompact(s, 2)...)
		rows = append(rows, "", "recent events:")
		// Alarms push events off the screen, never the other way.
		if n := ScreenRows - 1 - 2 - len(rows); n > 0 {
			rows = append(rows, LogLines(s, n)...)
		}
	}
	for len(rows) < ScreenRows-2 {
		rows = append(rows, "")
	}
	rows = rows[:ScreenRows-2]
	rows = append(rows, "commands: status sats sources clients log help")
	for i := range rows {
		rows[i] = fit(rows[i])
	}
	return rows
}

// satsCompact is the satellites as "PRN:SNR" words ('*' marks used ones)
// on at most n lines.
func satsCompact(s *Snapshot, n int) []string {
	prefix := "sats    "
	var lines []string
	cur := prefix
	for _, st := range s.Satellites {
		w := fmt.Sprintf("%d:", st.PRN)
		if st.SNRdBHz >= 0 {
			w += fmt.Sprint(st.SNRdBHz)
		} else {
			w += "-"
		}
		if st.Used {
			w = "*" + w
		}
		if len(cur)+len(w)+1 > 79 {
			lines = append(lines, cur)
			if len(lines) == n {
				return lines
			}
			cur = strings.Repeat(" ", len(prefix))
		}
		cur += w + " "
	}
	if len(s.Satellites) == 0 {
		cur += "none reported"
	}
	lines = append(lines, strings.TrimRight(cur, " "))
	if len(lines) < n {
		lines = append(lines, "        (PRN:SNR dB-Hz, * used in the fix)")
	}
	return lines
}

// redraw sends the rows that changed since the last frame (all of them
// when full), then puts the cursor back at the end of the command line.
func (c *Console) redraw(full bool) {
	rows := ScreenLines(c.Get())
	if full || len(c.prev) != len(rows) {
		c.write(escClear)
		for i, r := range rows {
			if r != "" {
				c.write(escGoto(i+1, 1) + r)
			}
		}
		c.write(escGoto(ScreenRows, 1) + c.prompt())
	} else {
		changed := false
		for i, r := range rows {
			if r != c.prev[i] {
				c.write(escGoto(i+1, 1) + r + escEraseEOL)
				changed = true
			}
		}
		if !changed {
			return
		}
		c.write(escGoto(ScreenRows, len(c.prompt())+1))
	}
	c.prev = rows
}
