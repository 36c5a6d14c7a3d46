package ctl

import (
	"math"
	"time"

	"github.com/gpsntp/gpsntp/ntpserve"
)

// Snapshot is the daemon's whole status at one moment. Offsets are signed,
// positive meaning our clock is ahead of UTC (DESIGN.md).
type Snapshot struct {
	// Time is the served (disciplined) UTC time when the snapshot was taken.
	Time    time.Time `json:"time"`
	UptimeS float64   `json:"uptime_s"`
	Clock   string    `json:"clock"` // clock backend: soft, system, sim

	State        string  `json:"state"` // unsync, gps, pps, holdover
	Synchronised bool    `json:"synchronised"`
	RefID        string  `json:"refid"` // "PPS", "GPS" or "" when unsynchronised
	Stratum      int     `json:"stratum"`
	OffsetNs     float64 `json:"offset_ns"` // last servo offset
	JitterNs     float64 `json:"jitter_ns"`
	FreqPPB      float64 `json:"freq_ppb"` // frequency correction, positive: sped up
	// RootDispersionNs is the error bound advertised at Time.
	RootDispersionNs int64   `json:"root_dispersion_ns"`
	HoldoverS        float64 `json:"holdover_s"` // time in holdover (0 unless holding over)
	// Leap is the leap second announced on the wire this month: "insert",
	// "delete" or "" (none).
	Leap  string `json:"leap,omitempty"`
	Steps uint64 `json:"steps"`
	// LeapFile is the leap-seconds.list in use; nil when there is none
	// (leap seconds then come from the receiver's announcement only).
	LeapFile *LeapFileStatus `json:"leap_file,omitempty"`
	// Alarms are the conditions an operator must act on, each in words a
	// user understands, with what to check ("PPS configured on gpio 18 but
	// no pulses for 30 s: check wiring / dtoverlay / antenna"); none when
	// all is well. The daemon's components report them.
	Alarms []string `json:"alarms,omitempty"`
	// Addresses are the board's LAN addresses, IPv4 first (mdns.Shown:
	// global and private ones; link-local or loopback only when that is
	// all there is); MDNSName is the name the board answers to over
	// mDNS, "gpsntp.local", or "" when it does not.
	Addresses []string `json:"addresses"`
	MDNSName  string   `json:"mdns_name,omitempty"`

	PPS        PPSStatus   `json:"pps"`
	GPS        GPSStatus   `json:"gps"`
	Satellites []Satellite `json:"satellites"`
	Sources    []Source    `json:"sources"`
	// Upstream is what the `server`/`pool` lines agree on; nil when none
	// is configured.
	Upstream *UpstreamStatus `json:"upstream,omitempty"`
	Server   ServerStats     `json:"server"`
	Events   []Event         `json:"events,omitempty"`
}

// LeapFileStatus is the leap-seconds.list the daemon chose (the one that
// expires last among `leapfile` and the appliance's overrides).
type LeapFileStatus struct {
	Path string `json:"path"`
	// Expires is the file's own expiry (its `#@` line), after which it
	// cannot tell of a leap second; zero if it names none.
	Expires time.Time `json:"expires"`
}

// PPSStatus is the PPS source's health.
type PPSStatus struct {
	Configured bool   `json:"configured"`
	Source     string `json:"source"` // "gpio 18", "/dev/pps0", "dcd", "sim", "none"
	Edges      uint64 `json:"edges"`  // edges received
	// Missed is pulses lost (sequence or timing gaps), Bad edges whose
	// period fitted nothing (outliers, doubles, duplicates, backwards).
	Missed uint64 `json:"missed"`
	Bad    uint64 `json:"bad"`
	// Paired edges labelled with a UTC second and fed to the servo;
	// Unpaired fixes that found no certain edge; Mislabel pairings that
	// disagreed with our clock by more than 400 ms.
	Paired   uint64 `json:"paired"`
	Unpaired uint64 `json:"unpaired"`
	Mislabel uint64 `json:"mislabel"`
	Outliers uint64 `json:"outliers"`
	// LastEdgeAgoS is seconds since the last edge (-1: none yet).
	LastEdgeAgoS float64 `json:"last_edge_ago_s"`
}

// GPSStatus is the receiver's serial link and its last epoch.
type GPSStatus struct {
	Device      string `json:"device"`
	DeviceState string `json:"device_state"` // connecting, open, lost
	DeviceErr   string `json:"device_error,omitempty"`
	Baud        int    `json:"baud"`
	Opens       uint64 `json:"opens"`
	Losses      uint64 `json:"losses"`
	Fixes       uint64 `json:"fixes"`
	Untrusted   uint64 `json:"fixes_untrusted"`
	// Distrusted counts receiver times not followed: after the first lock,
	// further from our clock than the step threshold (a jump the receiver
	// has not held for the step-out interval, or beyond the panic limit).
	Distrusted  uint64 `json:"times_distrusted"`
	BadChecksum uint64 `json:"bad_checksums"`

	Receiver  string    `json:"receiver,omitempty"`
	FixTime   time.Time `json:"fix_time"` // UTC the last epoch named (zero if none)
	TimeValid bool      `json:"time_valid"`
	Distrust  string    `json:"distrust,omitempty"`
	// LeapNotice is what the receiver announced of leap seconds
	// (UBX-NAV-TIMELS), e.g. "insert at 2027-07-01, GPS-UTC 18 s"; "" if
	// it told nothing.
	LeapNotice string  `json:"leap_notice,omitempty"`
	Mode       string  `json:"mode"` // "-", "nofix", "2D", "3D"
	SatsUsed   int     `json:"sats_used"`
	SatsInView int     `json:"sats_in_view"`
	HDOP       float64 `json:"hdop"`
	PDOP       float64 `json:"pdop"`
	LatDeg     float64 `json:"lat_deg"`
	LonDeg     float64 `json:"lon_deg"`
	AltM       float64 `json:"alt_m"`
}

// Satellite is one row of the sats view.
type Satellite struct {
	PRN          int  `json:"prn"`
	ElevationDeg int  `json:"elevation_deg"`
	AzimuthDeg   int  `json:"azimuth_deg"`
	SNRdBHz      int  `json:"snr_dbhz"` // -1: not tracked
	Used         bool `json:"used"`
}

// Source is one row of the ntpq -p style billboard.
type Source struct {
	// Tally is ntpq's tally code: 'o' PPS peer, '*' system peer, '+'
	// candidate, '-' outlier, 'x' falseticker (outside the intersection of
	// the truechimers), '#' backup (selected, not combined), ' ' not used
	// (unreachable, noselect, refused, no sample yet). An upstream's tally
	// is the upstream selection's: '*' marks the upstream the estimate
	// follows, whether or not the clock follows the estimate.
	Tally string `json:"tally"`
	// Remote is the refclock, or the upstream's address (ADDR:PORT when
	// the port is not 123), or its configured name while unresolved.
	Remote  string `json:"remote"`
	RefID   string `json:"refid"`
	Stratum int    `json:"stratum"`
	// Type is ntpq's t column: l local refclock, u unicast server, p pool.
	Type string `json:"type"`
	// Host is an upstream's `server`/`pool` name as configured ("" for a
	// refclock).
	Host  string `json:"host,omitempty"`
	WhenS int64  `json:"when_s"` // seconds since the last sample, -1: never
	PollS int    `json:"poll_s"`
	// Reach is the 8-bit reachability register (one bit per poll, newest
	// in bit 0), printed in octal as ntpq does.
	Reach   uint8   `json:"reach"`
	DelayNs float64 `json:"delay_ns"`
	// OffsetNs is our clock minus the source's, positive: our clock ahead
	// (as Snapshot.OffsetNs; ntpq -p shows the opposite sign).
	OffsetNs float64 `json:"offset_ns"`
	JitterNs float64 `json:"jitter_ns"`
	// Drops are an upstream's replies dropped by the checks (RFC 5905
	// section 8: bad origin, unsynchronised, ...).
	Drops uint64 `json:"drops,omitempty"`
	// Note says what is wrong with a row, or why it is not measured
	// ("configured, not queried: resolving", "no reply", "kiss-o'-death DENY: ...").
	Note string `json:"note,omitempty"`
}

// IsUpstream says whether the row is a `server`/`pool` association (or
// line) rather than a local refclock.
func (s Source) IsUpstream() bool { return s.Type == "u" || s.Type == "p" }

// UpstreamStatus is the upstream servers' combined estimate
// (upstream.Client.Estimate), for the status view's upstream line and the
// metrics.
type UpstreamStatus struct {
	// OK: at least MinSane truechimers agree.
	OK          bool `json:"ok"`
	Truechimers int  `json:"truechimers"`
	MinSane     int  `json:"minsane"`
	// Sources is how many associations there are (a line not resolved yet
	// counts as one), Reachable how many answered one of their last eight
	// polls.
	Sources   int `json:"sources"`
	Reachable int `json:"reachable"`
	// GPSCheck is what they make of the receiver's time: "trusted: …",
	// "waiting up to 30 s for …", "vetoed: …", "unchecked: …".
	GPSCheck string `json:"gps_check,omitempty"`
	// OffsetNs is our served clock minus the upstreams' combined time,
	// positive: our clock ahead (as Snapshot.OffsetNs; ntpq's sign is the
	// opposite). ErrorNs bounds its error if the truechimers are right.
	// These and the fields below are zero while no source survives the
	// selection.
	OffsetNs float64 `json:"offset_ns"`
	ErrorNs  float64 `json:"error_ns"`
	// Stratum is what a server following the upstreams serves (the
	// system peer's + 1); RefID the refid it sends (the system peer's IPv4
	// address, or the first four bytes of the MD5 hash of its IPv6 one,
	// dotted); SystemPeer the system peer's address.
	Stratum    int    `json:"stratum"`
	RefID      string `json:"refid"`
	SystemPeer string `json:"system_peer,omitempty"`
}

// ServerStats are the NTP server's counters by outcome and recent rates.
type ServerStats struct {
	Listen []string `json:"listen"`
	// Counts are the server's own counters; every received packet lands in
	// exactly one of its outcomes (ntpserve.Outcome names them).
	Counts ntpserve.Stats `json:"counts"`
	// Per minute over the last minute (or since start, if shorter).
	RequestsPerMin float64 `json:"requests_per_min"`
	DropsPerMin    float64 `json:"drops_per_min"`
	KoDPerMin      float64 `json:"kod_per_min"`
	// TopTalkers are the busiest clients among those whose restrict rule
	// has `limited` (the server tracks no others), busiest first.
	TopTalkers []Talker `json:"top_talkers"`
}

// Talker is one client of the clients view.
type Talker struct {
	Addr     string  `json:"addr"`
	PerMin   float64 `json:"per_min"`
	Limited  uint64  `json:"limited"`
	KoDSent  uint64  `json:"kod_sent"`
	LastSeen float64 `json:"last_seen_ago_s"`
}

// Event is one line of the event log.
type Event struct {
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
	Attrs string    `json:"attrs,omitempty"` // key=value …, as slog's text handler writes them
}

// Reach tracks one source's reachability register, last-sample age and
// jitter, from the daemon's once-a-second poll. Time is an argument. Not
// safe for concurrent use.
type Reach struct {
	Register  uint8
	LastNs    int64 // host time of the last sample (0: never)
	OffsetNs  float64
	JitterNs  float64 // RMS of successive offset differences (EWMA)
	haveValue bool
}

// Poll shifts the register once per poll interval: sampled says whether a
// sample arrived during the interval.
func (r *Reach) Poll(sampled bool) {
	r.Register <<= 1
	if sampled {
		r.Register |= 1
	}
}

// Sample records a sample's offset (ns, positive: our clock ahead) at
// host time nowNs.
func (r *Reach) Sample(nowNs int64, offsetNs float64) {
	r.LastNs = nowNs
	if r.haveValue {
		d := offsetNs - r.OffsetNs
		// ntpd-style jitter: exponential average of squared differences,
		// weight 1/4.
		r.JitterNs = math.Sqrt(0.75*r.JitterNs*r.JitterNs + 0.25*d*d)
	}
	r.OffsetNs, r.haveValue = offsetNs, true
}

// WhenS is whole seconds since the last sample at nowNs, -1 if none.
func (r *Reach) WhenS(nowNs int64) int64 {
	if r.LastNs == 0 {
		return -1
	}
	return max(0, (nowNs-r.LastNs)/1e9)
}
