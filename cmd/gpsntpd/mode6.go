package main

import (
	"math/bits"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// controlSource is what mode 6 (ntpq) reports, from the status snapshot:
// the billboard's sources as associations (PPS and GPS as refclocks the
// way ntpd shows them, upstream servers by address). The system
// variables besides these come from the served Reference in ntpserve.
func controlSource(get func() *ctl.Snapshot) ntpserve.ControlSource {
	return &snapshotControl{get: get, ids: map[string]uint16{},
		version: daemonVersion(), system: kernelName()}
}

// snapshotControl turns ctl.Snapshot into ntpserve.ControlStatus.
type snapshotControl struct {
	get             func() *ctl.Snapshot
	version, system string

	// ids keeps each source's association ID stable between ntpq's
	// READSTAT and its READVARs (and across snapshots): ntpd numbers
	// associations as they are made.
	mu   sync.Mutex
	ids  map[string]uint16
	next uint16
}

// maxAssocIDs bounds ids: pool associations come and go; when the map is
// full it starts over (IDs then change once, as after an ntpd restart).
const maxAssocIDs = 1024

// Refclock pseudo addresses, ntpd's 127.127.TYPE.UNIT convention: type 20
// is the NMEA driver, 22 the PPS (ATOM) driver.
var (
	gpsPseudoAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 127, 20, 0}), 123)
	ppsPseudoAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 127, 22, 0}), 123)
)

// refclockPrecision is advertised for the refclocks (log2 s, about 1 µs):
// the snapshot does not carry the clock's measured precision.
const refclockPrecision = -20

func (c *snapshotControl) ControlStatus() ntpserve.ControlStatus {
	st := ntpserve.ControlStatus{Version: c.version, Processor: runtime.GOARCH, System: c.system}
	s := c.get()
	if s == nil {
		return st
	}
	nowNs := s.Time.UnixNano()
	leap := uint8(0)
	switch s.Leap {
	case "insert":
		leap = 1
	case "delete":
		leap = 2
	}
	st.Peers = make([]ntpserve.ControlPeer, 0, len(s.Sources))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, src := range s.Sources {
		p := ntpserve.ControlPeer{
			AssocID:  c.assocID(src),
			Leap:     leap,
			Stratum:  uint8(min(max(src.Stratum, 0), 16)),
			RefID:    strings.Trim(src.RefID, "."),
			Reach:    src.Reach,
			PollLog2: int8(bits.Len(uint(max(src.PollS, 1))) - 1),
			// The snapshot's offsets are ours minus theirs; ntpq's the
			// opposite.
			OffsetNs:      -src.OffsetNs,
			DelayNs:       src.DelayNs,
			JitterNs:      src.JitterNs,
			PrecisionLog2: refclockPrecision,
		}
		if src.Tally != "" {
			p.Select = ntpserve.SelectFromTally(src.Tally[0])
		}
		if src.WhenS >= 0 {
			p.LastNs = nowNs - src.WhenS*1e9
		}
		if src.Reach == 0 {
			p.Leap = 3 // not heard: unsynchronised, as ntpd shows it
		}
		switch {
		case src.IsUpstream():
			p.Clock, p.Name = ntpserve.ClockNTP, src.Host
			if ap, err := netip.ParseAddrPort(src.Remote); err == nil {
				p.Addr = ap
			} else if a, err := netip.ParseAddr(src.Remote); err == nil {
				p.Addr = netip.AddrPortFrom(a, 123)
			}
			if p.Name == p.Addr.Addr().String() {
				p.Name = "" // configured by address: ntpd has no srchost then
			}
		case strings.HasPrefix(src.Remote, "PPS"):
			p.Clock, p.Name, p.Addr, p.RefTimeNs = ntpserve.ClockPPS, src.Remote, ppsPseudoAddr, p.LastNs
		default:
			p.Clock, p.Name, p.Addr, p.RefTimeNs = ntpserve.ClockGPS, src.Remote, gpsPseudoAddr, p.LastNs
		}
		st.Peers = append(st.Peers, p)
	}
	return st
}

// assocID is src's association ID, made on first sight. Called with mu
// held.
func (c *snapshotControl) assocID(src ctl.Source) uint16 {
	key := src.Type + " " + src.Remote + " " + src.Host
	if id, ok := c.ids[key]; ok {
		return id
	}
	if len(c.ids) >= maxAssocIDs {
		clear(c.ids)
	}
	c.next++
	if c.next == 0 {
		c.next = 1
	}
	c.ids[key] = c.next
	return c.next
}

// daemonVersion is mode 6's `version`: gpsntpd and its module version or
// commit.
func daemonVersion() string {
	v := "gpsntpd"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return v + " " + bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return v + " " + s.Value[:12]
		}
	}
	return v
}

// kernelName is mode 6's `system`, as ntpd's uname-based "Linux/6.1.0".
func kernelName() string {
	sys := strings.ToUpper(runtime.GOOS[:1]) + runtime.GOOS[1:]
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		sys += "/" + strings.TrimSpace(string(b))
	}
	return sys
}
