package ctl

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve"
)

// Views are the named text views, as the console's commands and
// gpsntpctl's subcommands call them.
var Views = []string{"status", "sats", "sources", "clients", "log"}

// Render writes the named view of s to w. Lines end in "\n"; the console
// turns them into "\r\n". Every line fits 79 columns (a dumb 80-column
// terminal wraps a full line). It returns an error for an unknown view.
func Render(w io.Writer, view string, s *Snapshot) error {
	var lines []string
	switch view {
	case "status":
		lines = StatusLines(s)
	case "sats":
		lines = SatsLines(s)
	case "sources":
		lines = SourcesLines(s)
	case "clients":
		lines = ClientsLines(s)
	case "log":
		lines = LogLines(s, 0)
	default:
		return fmt.Errorf("unknown view %q (known: %s)", view, strings.Join(Views, ", "))
	}
	for _, l := range lines {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// fmtDur formats a signed ns quantity with a unit that keeps 3-4
// significant digits: 123ns, +1.234us, 12.345ms, 1.500s. ASCII only ("us"):
// a serial console need not speak UTF-8.
func fmtDur(ns float64, sign bool) string {
	a := math.Abs(ns)
	var v float64
	var unit string
	switch {
	case a < 1e3:
		v, unit = ns, "ns"
	case a < 1e6:
		v, unit = ns/1e3, "us"
	case a < 1e9:
		v, unit = ns/1e6, "ms"
	default:
		v, unit = ns/1e9, "s"
	}
	f := "%.3f%s"
	if unit == "ns" {
		f = "%.0f%s"
	}
	if sign {
		f = "%+" + f[1:]
	}
	return fmt.Sprintf(f, v, unit)
}

// fmtAge formats a duration in seconds as 59s, 12m03s, 3h07m, 2d04h.
func fmtAge(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// fit cuts l to 79 columns and shows bytes a terminal would act on
// (controls, escapes, non-ASCII: a receiver's name or a device error may
// hold anything) as '?'.
func fit(l string) string {
	if len(l) > 79 {
		l = l[:79]
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; c < 0x20 || c > 0x7e {
			b := []byte(l)
			for j := i; j < len(b); j++ {
				if b[j] < 0x20 || b[j] > 0x7e {
					b[j] = '?'
				}
			}
			return string(b)
		}
	}
	return l
}

// StatusLines is the status view, the head of the console screen: eight
// or nine lines, after the first of which come the alarms, if any
// (AlarmLines).
func StatusLines(s *Snapshot) []string {
	refid := s.RefID
	if refid == "" {
		refid = "-"
	}
	sync := "unsynchronised"
	if s.Synchronised {
		sync = "synchronised"
	}
	hold := "-"
	if s.State == "holdover" {
		hold = fmtAge(s.HoldoverS)
	}
	l := []string{
		fmt.Sprintf("gpsntp  %s UTC  up %s  clock %s",
			s.Time.UTC().Format("2006-01-02 15:04:05"), fmtAge(s.UptimeS), s.Clock),
	}
	for _, a := range s.Alarms {
		l = append(l, AlarmLines(a)...)
	}
	l = append(l,
		fmt.Sprintf("state   %s (%s)  refid %s  stratum %d  holdover %s%s",
			strings.ToUpper(s.State), sync, refid, s.Stratum, hold, leapNote(s.Leap)),
		fmt.Sprintf("offset  %s  jitter %s  freq %+.3f ppm  maxerr %s  steps %d",
			fmtDur(s.OffsetNs, true), fmtDur(s.JitterNs, false), s.FreqPPB/1e3,
			fmtDur(float64(s.RootDispersionNs), false), s.Steps),
	)
	p := s.PPS
	if p.Configured {
		last := "never"
		if p.LastEdgeAgoS >= 0 {
			last = fmt.Sprintf("%.1fs ago", p.LastEdgeAgoS)
		}
		l = append(l, fmt.Sprintf("PPS     %s: edges %d, last %s, missed %d, bad %d, paired %d, unpaired %d",
			p.Source, p.Edges, last, p.Missed, p.Bad, p.Paired, p.Unpaired))
	} else {
		l = append(l, "PPS     none configured (NMEA time only, millisecond accuracy)")
	}
	g := s.GPS
	link := fmt.Sprintf("%s %s", g.Device, g.DeviceState)
	if g.Baud > 0 {
		link += fmt.Sprintf(" %d baud", g.Baud)
	}
	if g.Losses > 0 {
		link += fmt.Sprintf(" (lost %d times)", g.Losses)
	}
	rcv := ""
	if g.Receiver != "" {
		rcv = ", " + g.Receiver
	}
	l = append(l, fmt.Sprintf("GPS     %s; fix %s, sats %d/%d, HDOP %.1f%s",
		link, g.Mode, g.SatsUsed, g.SatsInView, g.HDOP, rcv))
	if g.LeapNotice != "" {
		l = append(l, "        receiver leap notice: "+g.LeapNotice)
	}
	second := "no time from the receiver yet"
	if !g.FixTime.IsZero() {
		valid := "valid"
		if !g.TimeValid {
			valid = "not trusted"
			if g.Distrust != "" {
				valid += " (" + g.Distrust + ")"
			}
		}
		second = fmt.Sprintf("NMEA %s %s", g.FixTime.UTC().Format("15:04:05"), valid)
	}
	pos := ""
	if g.Mode == "2D" || g.Mode == "3D" {
		pos = fmt.Sprintf("%s %s %.0fm; ", latlon(g.LatDeg, "N", "S"), latlon(g.LonDeg, "E", "W"), g.AltM)
	}
	if g.DeviceErr != "" && g.DeviceState != "open" {
		second += "; " + g.DeviceErr
	}
	l = append(l, "        "+pos+second)
	if s.Upstream != nil {
		l = append(l, UpstreamLine(s.Upstream))
		// Vetoed shows as an alarm; trusted needs no line.
		if c := s.Upstream.GPSCheck; strings.HasPrefix(c, "waiting") || strings.HasPrefix(c, "unchecked") {
			l = append(l, fit("        GPS "+c))
		}
	}
	v := s.Server
	n := v.Counts.Outcomes
	l = append(l, fmt.Sprintf("NTP     served %d, unsync %d, KoD %d, dropped %d; per min: %.0f req, %.0f drop",
		n[ntpserve.OutReply], n[ntpserve.OutReplyUnsync], n[ntpserve.OutKoD], v.Counts.Dropped(), v.RequestsPerMin, v.DropsPerMin))
	l = append(l, AddressLine(s))
	l = append(l, leapFileLine(s))
	for i := range l {
		l[i] = fit(l[i])
	}
	return l
}

// UpstreamLine is the status view's line for the upstream servers: what
// they agree on, with the offset signed as everywhere in the views
// (positive: our clock ahead of them), or why they do not.
func UpstreamLine(u *UpstreamStatus) string {
	reach := fmt.Sprintf("%d of %d reachable", u.Reachable, u.Sources)
	switch {
	case u.OK:
		return fit(fmt.Sprintf("upstream %d of %d agree: offset %s +/-%s, st %d via %s",
			u.Truechimers, u.Sources, fmtDur(u.OffsetNs, true), fmtDur(u.ErrorNs, false), u.Stratum, u.SystemPeer))
	case u.Truechimers == 0:
		return fit(fmt.Sprintf("upstream none agree (minsane %d); %s", u.MinSane, reach))
	}
	return fit(fmt.Sprintf("upstream %d of %d agree, fewer than minsane %d; %s", u.Truechimers, u.Sources, u.MinSane, reach))
}

// alarmIndent is where an alarm's text starts on its lines.
const alarmIndent = "       "

// maxAlarmLines is the most lines one alarm takes on a screen.
const maxAlarmLines = 3

// AlarmLines is one alarm as the status view shows it: "ALARM: " and the
// text, wrapped at spaces into lines that fit 79 columns (continuations
// indented under the text), at most maxAlarmLines of them. Bytes a
// terminal would act on (controls, non-ASCII) are shown as '?'.
func AlarmLines(alarm string) []string {
	b := []byte(strings.TrimSpace(alarm))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	words := strings.Fields(string(b))
	var lines []string
	cur := "ALARM:"
	for _, w := range words {
		if len(cur)+1+len(w) > 79 && len(cur) > len(alarmIndent) {
			lines = append(lines, cur)
			cur = alarmIndent[:len(alarmIndent)-1]
		}
		cur += " " + w
	}
	lines = append(lines, cur)
	if len(lines) > maxAlarmLines {
		lines = lines[:maxAlarmLines]
		last := lines[maxAlarmLines-1]
		if len(last) > 76 {
			last = last[:76]
		}
		lines[maxAlarmLines-1] = last + "..."
	}
	for i := range lines {
		lines[i] = fit(lines[i])
	}
	return lines
}

func latlon(deg float64, pos, neg string) string {
	h := pos
	if deg < 0 {
		h, deg = neg, -deg
	}
	return fmt.Sprintf("%.5f%s", deg, h)
}

// SatsLines is the sats view: one row per satellite in view.
func SatsLines(s *Snapshot) []string {
	l := []string{fmt.Sprintf("%d in view, %d used (fix %s)", s.GPS.SatsInView, s.GPS.SatsUsed, s.GPS.Mode),
		" PRN  elev  azim  SNR  used"}
	for _, st := range s.Satellites {
		snr := "   -"
		if st.SNRdBHz >= 0 {
			snr = fmt.Sprintf("%4d", st.SNRdBHz)
		}
		used := ""
		if st.Used {
			used = "  *"
		}
		l = append(l, fmt.Sprintf("%4d  %4d  %4d %s%s", st.PRN, st.ElevationDeg, st.AzimuthDeg, snr, used))
	}
	if len(s.Satellites) == 0 {
		l = append(l, "   (no satellites reported)")
	}
	return l
}

// sourcesHeader is ntpq -p's header, aligned to SourcesLines' columns.
var sourcesHeader = fmt.Sprintf("%1s%-15s %-15s %2s %1s %4s %4s %5s %7s %8s %7s",
	"", "    remote", "   refid", "st", "t", "when", "poll", "reach", "delay", "offset", "jitter")

// sourcesLegend says what SourcesLines' figures are: our offset sign is
// not ntpq's.
const sourcesLegend = "(ms; offset is our clock minus the source's: ntpq -p shows the opposite sign)"

// SourcesLines is the sources view, an ntpq -p style billboard in ms,
// then the notes on rows (what is wrong, why a row is not measured), the
// legend and the upstream line.
func SourcesLines(s *Snapshot) []string {
	l := []string{sourcesHeader, strings.Repeat("=", len(sourcesHeader))}
	var notes []string
	byNote := map[string][]string{}
	for _, src := range s.Sources {
		when := "-"
		if src.WhenS >= 0 {
			when = compact(src.WhenS)
		}
		tally := src.Tally
		if tally == "" {
			tally = " "
		}
		l = append(l, fmt.Sprintf("%1s%-15.15s %-15.15s %2d %1s %4s %4s %5o %7.3f %8.3f %7.3f",
			tally, src.Remote, src.RefID, src.Stratum, src.Type, when, compact(int64(src.PollS)),
			src.Reach, src.DelayNs/1e6, src.OffsetNs/1e6, src.JitterNs/1e6))
		if src.Note != "" {
			if byNote[src.Note] == nil {
				notes = append(notes, src.Note)
			}
			byNote[src.Note] = append(byNote[src.Note], src.Remote)
		}
	}
	for _, n := range notes {
		l = append(l, strings.Join(byNote[n], ", ")+": "+n)
	}
	l = append(l, sourcesLegend)
	if s.Upstream != nil {
		l = append(l, UpstreamLine(s.Upstream))
	}
	for i := range l {
		l[i] = fit(l[i])
	}
	return l
}

// compact is ntpq's when/poll format: seconds, then m, h, d.
func compact(s int64) string {
	switch {
	case s < 2048:
		return fmt.Sprint(s)
	case s < 300*60:
		return fmt.Sprintf("%dm", s/60)
	case s < 96*3600:
		return fmt.Sprintf("%dh", s/3600)
	}
	return fmt.Sprintf("%dd", s/86400)
}

// ClientsLines is the clients view: the server's counters by outcome, then
// the top talkers.
func ClientsLines(s *Snapshot) []string {
	v := s.Server
	l := []string{
		"NTP server on " + strings.Join(v.Listen, " "),
		fmt.Sprintf("last minute: %.1f requests/min, %.1f drops/min, %.1f KoD/min",
			v.RequestsPerMin, v.DropsPerMin, v.KoDPerMin),
	}
	row := func(name string, n uint64, what string) {
		l = append(l, fmt.Sprintf("  %-18s %12d  %s", strings.ReplaceAll(name, "_", " "), n, what))
	}
	row("received", v.Counts.Received, "packets read")
	for o := range ntpserve.NumOutcomes {
		row(o.String(), v.Counts.Outcomes[o], o.Means())
	}
	row("send errors", v.Counts.SendErrors, "replies the kernel refused")
	row("recv errors", v.Counts.RecvErrors, "failed reads")
	row("interleaved", v.Counts.Interleaved, "of the replies, interleaved (xleave)")
	if len(v.TopTalkers) == 0 {
		l = append(l, "top talkers: none (only clients under a `limited` restrict rule are tracked)")
	} else {
		l = append(l, "  client                                   per min  limited      KoD  last")
		for _, t := range v.TopTalkers {
			l = append(l, fit(fmt.Sprintf("  %-40s %7.1f %8d %8d  %s", t.Addr, t.PerMin, t.Limited, t.KoDSent, fmtAge(t.LastSeen))))
		}
	}
	return l
}

// LogLines is the log view: the recent events, oldest first; n > 0 keeps
// only the last n.
func LogLines(s *Snapshot, n int) []string {
	ev := s.Events
	if n > 0 && len(ev) > n {
		ev = ev[len(ev)-n:]
	}
	l := make([]string, 0, len(ev)+1)
	for _, e := range ev {
		l = append(l, fit(FormatEvent(e)))
	}
	if len(l) == 0 && n == 0 {
		l = append(l, "(no events yet)")
	}
	return l
}

// FormatEvent is one event as a log line: "15:04:05 WARN msg k=v".
func FormatEvent(e Event) string {
	s := e.Time.UTC().Format("01-02 15:04:05") + " " + fmt.Sprintf("%-5s", e.Level) + " " + e.Msg
	if e.Attrs != "" {
		s += " " + e.Attrs
	}
	return s
}

// leapFileLine is the status view's leap file line: its expiry, counted
// from the snapshot's time, then the file (last: a long path is cut).
func leapFileLine(s *Snapshot) string {
	f := s.LeapFile
	switch {
	case f == nil:
		return "leapfile none: leap seconds from the receiver's announcement only"
	case f.Expires.IsZero():
		return "leapfile names no expiry: " + f.Path
	}
	return fmt.Sprintf("leapfile expires %s (%s): %s", f.Expires.UTC().Format(time.DateOnly), ExpiresIn(f.Expires, s.Time), f.Path)
}

// ExpiresIn says when expires is, seen at now, in whole days: "in 12
// days", "in 1 day", "within a day", or "expired".
func ExpiresIn(expires, now time.Time) string {
	left := expires.Sub(now)
	switch days := int(left / (24 * time.Hour)); {
	case left <= 0:
		return "expired"
	case days == 0:
		return "within a day"
	case days == 1:
		return "in 1 day"
	default:
		return fmt.Sprintf("in %d days", days)
	}
}

// leapNote is the state line's mention of a leap second announced on the
// wire.
func leapNote(leap string) string {
	if leap == "" {
		return ""
	}
	return "  leap " + leap + " at month end"
}
