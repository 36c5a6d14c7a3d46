package ctl

import (
	"context"
	"fmt"
	"io"
	"strings"
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
type Console struct {
	R   io.Reader
	W   io.Writer
	Get func() *Snapshot // nil result: not ready yet
	// Interval between redraws (default 1 s).
	Interval time.Duration
	// Idle returns from a command's output to the live screen after this
	// long without input (default 60 s).
	Idle time.Duration

	prev     []string // rows last drawn (live mode)
	input    []byte
	paused   bool
	pausedAt time.Time
	lastCR   bool
}

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

// Run draws and reads until ctx is done or the terminal fails.
func (c *Console) Run(ctx context.Context) error {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Idle <= 0 {
		c.Idle = time.Minute
	}
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
	if err := c.redraw(true); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-rerr:
			if err == io.EOF {
				// Input closed (stdin from /dev/null): keep the screen.
				rerr = nil
				continue
			}
			return fmt.Errorf("console: read: %w", err)
		case b := <-in:
			if err := c.keys(b); err != nil {
				return err
			}
		case now := <-tick.C:
			if c.paused && now.Sub(c.pausedAt) > c.Idle {
				c.paused = false
				c.prev = nil
			}
			if !c.paused {
				if err := c.redraw(c.prev == nil); err != nil {
					return err
				}
			}
		}
	}
}

func (c *Console) write(s string) error {
	_, err := io.WriteString(c.W, s)
	if err != nil {
		return fmt.Errorf("console: write: %w", err)
	}
	return nil
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
func (c *Console) keys(b []byte) error {
	var out strings.Builder
	for _, k := range b {
		cr := c.lastCR
		c.lastCR = k == '\r'
		switch {
		case k == '\n' && cr:
		case k == '\r' || k == '\n':
			if out.Len() > 0 {
				if err := c.write(out.String()); err != nil {
					return err
				}
				out.Reset()
			}
			cmd := strings.ToLower(strings.TrimSpace(string(c.input)))
			c.input = c.input[:0]
			if err := c.command(cmd); err != nil {
				return err
			}
		case k == 0x7f || k == 0x08:
			if len(c.input) > 0 {
				c.input = c.input[:len(c.input)-1]
				out.WriteString("\b \b")
			}
		case k == 0x15: // Ctrl-U
			c.input = c.input[:0]
			out.WriteString("\r" + c.prompt() + escEraseEOL)
		case k == 0x0c: // Ctrl-L
			c.prev = nil
			if !c.paused {
				if err := c.redraw(true); err != nil {
					return err
				}
			}
		case k >= 0x20 && k < 0x7f:
			if len(c.input) < 40 {
				c.input = append(c.input, k)
				out.WriteByte(k)
			}
		}
	}
	if out.Len() > 0 {
		return c.write(out.String())
	}
	return nil
}

// command runs one command line.
func (c *Console) command(cmd string) error {
	var lines []string
	switch cmd {
	case "", "live", "screen", "q", "quit":
		c.paused = false
		return c.redraw(true)
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
	var out strings.Builder
	out.WriteString(escClear)
	for _, l := range lines {
		out.WriteString(fit(l) + "\r\n")
	}
	out.WriteString(escGoto(ScreenRows, 1) + c.prompt() + escEraseEOL)
	return c.write(out.String())
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
func (c *Console) redraw(full bool) error {
	rows := ScreenLines(c.Get())
	var out strings.Builder
	if full || len(c.prev) != len(rows) {
		out.WriteString(escClear)
		for i, r := range rows {
			if r != "" {
				out.WriteString(escGoto(i+1, 1) + r)
			}
		}
		out.WriteString(escGoto(ScreenRows, 1) + c.prompt())
	} else {
		changed := false
		for i, r := range rows {
			if r != c.prev[i] {
				out.WriteString(escGoto(i+1, 1) + r + escEraseEOL)
				changed = true
			}
		}
		if !changed {
			return nil
		}
		out.WriteString(escGoto(ScreenRows, len(c.prompt())+1))
	}
	c.prev = rows
	return c.write(out.String())
}
