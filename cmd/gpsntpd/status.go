package main

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/gps"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve"
	"github.com/gpsntp/gpsntp/upstream"
)

// collector assembles the status snapshot once a second from the engine
// (what it measured and decided: discipline.Status), the receiver, the PPS
// device and the server. Its methods other than get are called from the
// discipline loop only; get is safe from any goroutine.
type collector struct {
	start     time.Time
	clockName string
	ppsSource string
	gpsDevice string
	listen    []string
	events    func() []ctl.Event

	// ppsReach and gpsReach are the billboard's reach registers, fed
	// with the engine's samples (discipline.Status.PPS, .NMEA).
	ppsReach ctl.Reach
	gpsReach ctl.Reach
	// srv is a ring of the server's counters, one per second, for the
	// per-minute rates.
	srv  [61]ntpserve.Stats
	nSrv int
	// sky is the last fix that named satellites, at skyNs (skyOf).
	sky   gps.Fix
	skyNs int64
	// clients are the busiest clients, chosen every talkersEvery ticks.
	clients []ntpserve.ClientStat

	// alarmOn and alarmText are the alarms raised at the last tick, by key.
	alarmOn   map[string]bool
	alarmText map[string]string
	log       *slog.Logger
	// configAlarm: the configuration file was rejected (daemonEnv).
	configAlarm string
	// leapFile is the leap file in use (nil: none), leapAdvice how to put
	// a newer one in place, for its alarm (appliance.leapTable).
	leapFile   *ctl.LeapFileStatus
	leapAdvice string

	cur atomic.Pointer[ctl.Snapshot]
}

func newCollector(start time.Time, log *slog.Logger) *collector {
	return &collector{start: start, log: log}
}

// get is the last snapshot with the events as of now (an event logged
// since the last tick, such as a reload, shows at once).
func (c *collector) get() *ctl.Snapshot {
	s := c.cur.Load()
	if s == nil || c.events == nil {
		return s
	}
	cp := *s
	cp.Events = c.events()
	return &cp
}

// reach shows a source's last sample as the engine measured it: recorded
// if it is new since the last tick, and the reach register polled with
// whether it was.
func reach(r *ctl.Reach, s discipline.Sample) {
	fresh := s.AtNs != 0 && s.AtNs != r.LastNs
	if fresh {
		r.Sample(s.AtNs, s.OffsetNs)
	}
	r.Poll(fresh)
}

// tick builds and publishes the snapshot; call it once a second (the
// sources' poll interval) with the host clock.
func (c *collector) tick(nowNs int64, a *appliance) {
	st := a.engine.Status()
	r := st.Ref
	reach(&c.ppsReach, st.PPS)
	reach(&c.gpsReach, st.NMEA)

	served := a.clock.Now()
	s := &ctl.Snapshot{
		Time:             time.Unix(0, served).UTC(),
		UptimeS:          time.Since(c.start).Seconds(),
		Clock:            c.clockName,
		State:            r.State.String(),
		Synchronised:     r.Synchronised,
		RefID:            refIDText(&r),
		Stratum:          int(r.Stratum),
		OffsetNs:         r.OffsetNs,
		JitterNs:         r.JitterNs,
		FreqPPB:          r.FreqPPB,
		HoldoverS:        st.HoldoverS,
		Steps:            st.Counters.Steps,
		RootDispersionNs: 0,
		Leap:             map[discipline.Leap]string{discipline.LeapInsert: "insert", discipline.LeapDelete: "delete"}[r.Leap],
		LeapFile:         c.leapFile,
	}
	if r.Synchronised {
		s.RootDispersionNs = r.RootDispersionAt(served)
	}
	s.PPS = ctl.PPSStatus{
		Configured:   a.ppsSrc != nil,
		Source:       c.ppsSource,
		Edges:        st.Counters.Edges,
		Missed:       st.EdgeChecks.MissedPulses,
		Bad:          st.EdgeChecks.Bad(),
		Paired:       st.Counters.Paired,
		Unpaired:     st.Counters.Unpaired,
		Mislabel:     st.Counters.Mislabel,
		Outliers:     st.Counters.Outliers,
		LastEdgeAgoS: -1,
	}
	if st.LastEdgeNs != 0 {
		s.PPS.LastEdgeAgoS = float64(nowNs-st.LastEdgeNs) / 1e9
	}
	rs := a.receiver.Stats()
	f := st.LastFix
	sky := c.skyOf(f, nowNs)
	s.GPS = ctl.GPSStatus{
		Device: c.gpsDevice, DeviceState: rs.Device.String(), DeviceErr: rs.DeviceErr, Baud: rs.Baud,
		Opens: rs.Opens, Losses: rs.Losses, Fixes: st.Counters.Fixes, Untrusted: st.Counters.FixesUntrusted, Distrusted: st.Counters.Distrusted,
		BadChecksum: rs.Stream.Framer.BadChecksum,
		Receiver:    f.Receiver, FixTime: f.Time, TimeValid: f.TimeValid, Distrust: f.Distrust.String(), LeapNotice: leapNotice(f.Leap),
		Mode: modeString(f.Mode), SatsUsed: sky.SatsUsed, SatsInView: sky.SatsInView, HDOP: f.HDOP, PDOP: f.PDOP,
		LatDeg: f.LatDeg, LonDeg: f.LonDeg, AltM: f.AltM,
	}
	s.Satellites = make([]ctl.Satellite, 0, len(sky.Satellites))
	for _, sat := range sky.Satellites {
		s.Satellites = append(s.Satellites, ctl.Satellite(sat))
	}
	var ups []upstream.SourceStatus
	if a.upstream != nil {
		ups = a.upstream.Status()
		est, ok := a.upstream.Estimate()
		s.Upstream = upstreamSummary(est, ok, ups, a.cfg.MinSane)
		s.Upstream.GPSCheck = st.GPSCheck
	}
	s.Sources = c.sources(nowNs, r, a.ppsSrc != nil, ups)
	// The busiest clients: chosen every talkersEvery ticks (a walk of the
	// server's whole client table), their figures refreshed every tick.
	if c.nSrv%talkersEvery == 0 || c.clients == nil {
		c.clients = a.server.TopClients(topTalkers)
	} else {
		a.server.RefreshClients(c.clients)
	}
	s.Server = c.server(a.server.Stats())
	s.Server.TopTalkers = talkers(c.clients, time.Unix(0, nowNs))
	s.Alarms = c.alarms(nowNs, served, a, rs, st)
	s.Addresses, s.MDNSName = a.find.status()
	c.cur.Store(s)
}

// skyHoldNs is how long the satellites of an epoch stay on show when the
// epochs after it name none.
const skyHoldNs = 10e9

// skyOf is the fix whose satellites to show: f, or, when f names none, the
// last that did, for up to skyHoldNs. A receiver's burst cut in two (a
// writer or a USB adapter stalled 50 ms mid-burst: two epochs, the second
// without GSV) would otherwise blank the sky view and the satellite
// counts for a second.
func (c *collector) skyOf(f gps.Fix, nowNs int64) gps.Fix {
	if f.SatsInView > 0 || len(f.Satellites) > 0 {
		c.sky, c.skyNs = f, nowNs
		return f
	}
	if c.skyNs != 0 && nowNs-c.skyNs <= skyHoldNs {
		return c.sky
	}
	return f
}

// ppsSilentAlarmNs: an open PPS device without a pulse for this long is an
// alarm (the engine has long since fallen back to NMEA time).
const ppsSilentAlarmNs = 30e9

// alarm is a condition the operator must act on: key identifies it across
// ticks (its text may change, "no pulses for 31 s", "… 32 s").
type alarm struct{ key, text string }

// leapWarnBefore is how long before the leap file in use expires that
// its expiry is an alarm: time to fetch a new one (the IERS publishes one
// every six months, after Bulletin C) and copy it over.
const leapWarnBefore = 30 * 24 * time.Hour

// leapFileURL is where the IERS publishes leap-seconds.list.
const leapFileURL = "https://hpiers.obspm.fr/iers/bul/bulc/ntp/leap-seconds.list"

// leapFileAlarm is the alarm, if any, for the leap file f at the served
// UTC time now: from leapWarnBefore before its expiry, and after it (the
// file can no longer tell of a leap second; the receiver's announcement
// still counts). advice says how to put a newer one in place.
func leapFileAlarm(f *ctl.LeapFileStatus, advice string, now time.Time) (alarm, bool) {
	if f == nil || f.Expires.IsZero() {
		return alarm{}, false
	}
	day := f.Expires.UTC().Format(time.DateOnly)
	switch {
	case !now.Before(f.Expires):
		return alarm{"leap-expired", fmt.Sprintf("leap file %s expired %s, leap seconds from the receiver only: %s", f.Path, day, advice)}, true
	case f.Expires.Sub(now) <= leapWarnBefore:
		return alarm{"leap-expiring", fmt.Sprintf("leap file %s expires %s (%s): %s", f.Path, day, ctl.ExpiresIn(f.Expires, now), advice)}, true
	}
	return alarm{}, false
}

// alarms are the device-level conditions the collector sees, each logged
// once when raised and once when cleared, then the engine's (st.Alarms).
// nowNs is the host clock, servedNs the served (UTC) time.
func (c *collector) alarms(nowNs, servedNs int64, a *appliance, rs gps.Stats, st discipline.Status) []string {
	var cur []alarm
	if c.configAlarm != "" {
		cur = append(cur, alarm{"config", c.configAlarm})
	}
	if al, ok := leapFileAlarm(c.leapFile, c.leapAdvice, time.Unix(0, servedNs)); ok {
		cur = append(cur, al)
	}
	if d := a.ppsDev; d != nil {
		ds := d.Status()
		where := "PPS configured on " + c.ppsSource
		why := ds.Err
		if why == "" {
			why = "not opened yet"
		}
		// The GPIO character device needs no overlay; /dev/ppsN comes
		// from dtoverlay=pps-gpio after a reboot.
		gpio := strings.HasPrefix(c.ppsSource, "gpio")
		switch {
		case !ds.Open:
			check := "check the pps line and the dtoverlay in config.txt (takes effect after a reboot)"
			if gpio {
				check = "check the pps line's chip and line number (gpioinfo) and that no other driver holds the line"
			}
			cur = append(cur, alarm{"pps-missing", fmt.Sprintf("PPS device %s cannot be opened (%s): serving NMEA time; %s", c.ppsSource, why, check)})
		default:
			since := ds.Since.UnixNano()
			if st.LastEdgeNs > since {
				since = st.LastEdgeNs
			}
			if silent := nowNs - since; silent >= ppsSilentAlarmNs {
				check := "wiring / dtoverlay / antenna"
				if gpio {
					check = "wiring (the PPS pin) / antenna"
				}
				cur = append(cur, alarm{"pps-silent", fmt.Sprintf("%s but no pulses for %d s: check %s (most receivers give PPS only with a fix)", where, silent/1e9, check)})
			}
		}
	}
	switch rs.Device {
	case gps.DeviceLost:
		cur = append(cur, alarm{"gps-device", fmt.Sprintf("GPS device %s not available (%s): check the cable and the gps line; retrying", c.gpsDevice, rs.DeviceErr)})
	}
	if t := a.webDown.Load(); t != nil {
		cur = append(cur, alarm{"web", *t})
	}
	for _, al := range a.panel.Alarms() { // nil-safe
		cur = append(cur, alarm{al.Key, al.Text})
	}
	out := make([]string, 0, len(cur))
	seen := map[string]bool{}
	for _, al := range cur {
		out = append(out, al.text)
		seen[al.key] = true
		if !c.alarmOn[al.key] {
			c.log.Warn("alarm", "alarm", al.text)
		}
	}
	for k := range c.alarmOn {
		if !seen[k] {
			c.log.Info("alarm cleared", "alarm", c.alarmText[k])
		}
	}
	c.alarmOn = seen
	c.alarmText = map[string]string{}
	for _, al := range cur {
		c.alarmText[al.key] = al.text
	}
	// The engine's own alarms: the discipline loop logs them (its events).
	return append(out, st.Alarms...)
}

func modeString(m gps.Mode) string {
	switch m {
	case gps.ModeNoFix:
		return "nofix"
	case gps.Mode2D:
		return "2D"
	case gps.Mode3D:
		return "3D"
	}
	return "-"
}

// sources is the billboard: PPS and GPS as refclocks (stratum 0, type l,
// polled each second), then the upstream associations (ups, from
// upstream.Client.Status; none when no server/pool line is configured).
func (c *collector) sources(nowNs int64, r discipline.Reference, havePPS bool, ups []upstream.SourceStatus) []ctl.Source {
	out := make([]ctl.Source, 0, 2+len(ups))
	gpsTally, ppsTally := " ", " "
	switch r.State {
	case discipline.PPS:
		ppsTally, gpsTally = "o", "+" // ntpq: o = PPS peer; GPS labels the seconds
	case discipline.GPS:
		gpsTally = "*"
	case discipline.Holdover:
		gpsTally, ppsTally = "-", "-"
	}
	if havePPS {
		out = append(out, ctl.Source{
			Tally: ppsTally, Remote: "PPS(0)", RefID: ".PPS.", Stratum: 0, Type: "l",
			WhenS: c.ppsReach.WhenS(nowNs), PollS: 1, Reach: c.ppsReach.Register,
			OffsetNs: c.ppsReach.OffsetNs, JitterNs: r.JitterNs,
		})
	}
	out = append(out, ctl.Source{
		Tally: gpsTally, Remote: "GPS_NMEA(0)", RefID: ".GPS.", Stratum: 0, Type: "l",
		WhenS: c.gpsReach.WhenS(nowNs), PollS: 1, Reach: c.gpsReach.Register,
		OffsetNs: c.gpsReach.OffsetNs, JitterNs: c.gpsReach.JitterNs,
	})
	for _, u := range ups {
		out = append(out, upstreamRow(u))
	}
	return out
}

// upstreamRow is one upstream association as a billboard row. The
// client's offset is upstream minus our clock (ntpq's sign); the
// billboard's is ours minus theirs, as every offset in the snapshot.
func upstreamRow(u upstream.SourceStatus) ctl.Source {
	row := ctl.Source{
		Tally: string(rune(u.Tally)), Remote: u.Host, Host: u.Host, RefID: u.RefID, Stratum: u.Stratum, Type: "u",
		WhenS: u.WhenS, PollS: int(u.PollS), Reach: u.Reach,
		DelayNs: u.DelayNs, OffsetNs: negate(u.OffsetNs), JitterNs: u.JitterNs, Drops: u.Drops,
		Note: upstreamNote(u),
	}
	if u.Tally == 0 {
		row.Tally = " "
	}
	if u.Pool {
		row.Type = "p"
	}
	if u.Addr.IsValid() {
		row.Remote = u.Addr.Addr().String()
		if u.Addr.Port() != 123 {
			row.Remote = u.Addr.String()
		}
	}
	return row
}

// negate turns an upstream's offset (theirs minus ours) into the
// snapshot's (ours minus theirs), without a -0 for a source never
// measured (the views would show "-0.000").
func negate(x float64) float64 { return 0 - x }

// upstreamNote says what is wrong with an association, or why it is not
// measured: "" when all is well.
func upstreamNote(u upstream.SourceStatus) string {
	var why []string
	switch {
	case !u.Addr.IsValid():
		// upstream.Status: "resolving", or the resolver's error.
		return "configured, not queried: " + cmp.Or(u.LastError, "not resolved")
	case u.Stopped:
		return "refused us (kiss-o'-death " + u.KoD + "): no longer polled"
	case u.KoD == upstream.KissRate:
		why = append(why, "asked us to poll less often (kiss-o'-death RATE)")
	}
	if u.LastError != "" && u.LastError != "kiss-o'-death "+u.KoD {
		why = append(why, u.LastError)
	}
	if u.NoSelect {
		why = append(why, "noselect: monitored only")
	}
	return strings.Join(why, "; ")
}

// upstreamSummary is the snapshot's upstream line from the client's
// estimate (ok: at least minSane truechimers agree; 0: the default) and
// its associations.
func upstreamSummary(est upstream.Estimate, ok bool, ups []upstream.SourceStatus, minSane int) *ctl.UpstreamStatus {
	u := &ctl.UpstreamStatus{OK: ok, Truechimers: est.Truechimers, MinSane: cmp.Or(minSane, config.DefaultMinSane), Sources: len(ups)}
	for _, s := range ups {
		if s.Reach != 0 {
			u.Reachable++
		}
	}
	if est.SystemPeer.IsValid() {
		u.OffsetNs = negate(est.OffsetNs) // ours minus theirs
		u.ErrorNs = est.ErrorNs
		u.Stratum = est.Stratum
		u.RefID = netip.AddrFrom4(est.RefID).String()
		u.SystemPeer = est.SystemPeer.Addr().String()
		if est.SystemPeer.Port() != 123 {
			u.SystemPeer = est.SystemPeer.String()
		}
	}
	return u
}

// server is the server's counters and the rates over the last minute.
func (c *collector) server(st ntpserve.Stats) ctl.ServerStats {
	c.srv[c.nSrv%len(c.srv)] = st
	c.nSrv++
	oldest := c.srv[0]
	span := c.nSrv - 1
	if c.nSrv > len(c.srv) {
		oldest = c.srv[c.nSrv%len(c.srv)]
		span = len(c.srv) - 1
	}
	perMin := func(now, then uint64) float64 {
		if span == 0 {
			return 0
		}
		return float64(now-then) * 60 / float64(span)
	}
	out := ctl.ServerStats{Listen: c.listen, Counts: st}
	out.RequestsPerMin = perMin(st.Received, oldest.Received)
	out.DropsPerMin = perMin(st.Dropped(), oldest.Dropped())
	out.KoDPerMin = perMin(st.Outcomes[ntpserve.OutKoD], oldest.Outcomes[ntpserve.OutKoD])
	return out
}

const (
	topTalkers   = 10 // clients shown
	talkersEvery = 10 // seconds between choosing them anew
)

// talkers converts the server's busiest clients for the views: rate per
// minute over the time each has been seen.
func talkers(cs []ntpserve.ClientStat, now time.Time) []ctl.Talker {
	out := make([]ctl.Talker, 0, len(cs))
	for _, c := range cs {
		t := ctl.Talker{Addr: c.Addr.String(), Limited: c.Limited, KoDSent: c.KoD, LastSeen: now.Sub(c.LastSeen).Seconds()}
		if span := c.LastSeen.Sub(c.FirstSeen).Seconds(); span > 0 {
			t.PerMin = float64(c.Packets-1) * 60 / span
		}
		out = append(out, t)
	}
	return out
}

// ppsDescription names the configured PPS source for the status screen.
func ppsDescription(p config.PPS, sim bool) string {
	switch {
	case sim:
		return "sim"
	case p.Kind == config.PPSGPIO && p.Pin == config.PinAuto:
		return "gpio auto" // no board to name the pin
	case p.Kind == config.PPSGPIO:
		return fmt.Sprintf("gpio %d", p.Pin)
	case p.Kind == config.PPSKernel:
		return p.Device
	}
	return string(p.Kind)
}

// leapNotice describes a receiver's leap second announcement for status.
func leapNotice(n gps.LeapNotice) string {
	if !n.Known {
		return ""
	}
	what := "none scheduled"
	switch n.Change {
	case +1:
		what = "insert at " + n.At.Format(time.DateOnly)
	case -1:
		what = "delete at " + n.At.Format(time.DateOnly)
	}
	if n.GPSMinusUTCS != 0 {
		what += fmt.Sprintf(", GPS-UTC %d s", n.GPSMinusUTCS)
	}
	return what
}
