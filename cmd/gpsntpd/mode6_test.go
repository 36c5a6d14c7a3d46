package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/ntpserve"
)

// The billboard becomes ntpd-style associations: refclocks with their
// pseudo addresses and names, upstreams by address, ntpq's offset sign,
// IDs that stay put across snapshots.
func TestControlSourceFromSnapshot(t *testing.T) {
	now := time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC)
	snap := &ctl.Snapshot{Time: now, Leap: "insert", Sources: []ctl.Source{
		{Tally: "o", Remote: "PPS(0)", RefID: ".PPS.", Type: "l", WhenS: 0, PollS: 1, Reach: 0o377, OffsetNs: 250, JitterNs: 90},
		{Tally: "+", Remote: "GPS_NMEA(0)", RefID: ".GPS.", Type: "l", WhenS: 1, PollS: 1, Reach: 0o376, OffsetNs: -3e6},
		{Tally: "*", Remote: "192.0.2.1", Host: "time.example", RefID: "198.51.100.9", Stratum: 2, Type: "u", WhenS: 20, PollS: 64, Reach: 0o17, DelayNs: 2e6, OffsetNs: 1e6},
		{Tally: " ", Remote: "192.0.2.2:10123", Host: "192.0.2.2", RefID: ".INIT.", Stratum: 16, Type: "u", WhenS: -1, PollS: 64},
		{Tally: " ", Remote: "pool.example", Host: "pool.example", RefID: ".INIT.", Stratum: 16, Type: "p", WhenS: -1, PollS: 64},
	}}
	cs := controlSource(func() *ctl.Snapshot { return snap })
	st := cs.ControlStatus()
	if len(st.Peers) != 5 || st.Version == "" || st.System == "" {
		t.Fatalf("ControlStatus = %+v", st)
	}
	nowNs := now.UnixNano()
	want := []ntpserve.ControlPeer{
		{AssocID: 1, Select: ntpserve.SelPPSPeer, Name: "PPS(0)", Addr: ppsPseudoAddr, Clock: ntpserve.ClockPPS, Leap: 1,
			RefID: "PPS", Reach: 0o377, LastNs: nowNs, RefTimeNs: nowNs, OffsetNs: -250, JitterNs: 90, PrecisionLog2: refclockPrecision},
		{AssocID: 2, Select: ntpserve.SelCandidate, Name: "GPS_NMEA(0)", Addr: gpsPseudoAddr, Clock: ntpserve.ClockGPS, Leap: 1,
			RefID: "GPS", Reach: 0o376, LastNs: nowNs - 1e9, RefTimeNs: nowNs - 1e9, OffsetNs: 3e6, PrecisionLog2: refclockPrecision},
		{AssocID: 3, Select: ntpserve.SelSysPeer, Name: "time.example", Addr: netip.MustParseAddrPort("192.0.2.1:123"), Clock: ntpserve.ClockNTP,
			Leap: 1, Stratum: 2, RefID: "198.51.100.9", Reach: 0o17, PollLog2: 6, LastNs: nowNs - 20e9, DelayNs: 2e6, OffsetNs: -1e6, PrecisionLog2: refclockPrecision},
		{AssocID: 4, Select: ntpserve.SelReject, Addr: netip.MustParseAddrPort("192.0.2.2:10123"), Clock: ntpserve.ClockNTP,
			Leap: 3, Stratum: 16, RefID: "INIT", PollLog2: 6, PrecisionLog2: refclockPrecision},
		{AssocID: 5, Select: ntpserve.SelReject, Name: "pool.example", Clock: ntpserve.ClockNTP,
			Leap: 3, Stratum: 16, RefID: "INIT", PollLog2: 6, PrecisionLog2: refclockPrecision},
	}
	for i, w := range want {
		if st.Peers[i] != w {
			t.Errorf("peer %d = %+v\nwant %+v", i, st.Peers[i], w)
		}
	}
	// The same sources in another order keep their IDs; a new one gets a
	// new ID.
	snap = &ctl.Snapshot{Time: now, Sources: []ctl.Source{snap.Sources[2], {Tally: "+", Remote: "192.0.2.3", Type: "u"}, snap.Sources[0]}}
	st = cs.ControlStatus()
	if st.Peers[0].AssocID != 3 || st.Peers[1].AssocID != 6 || st.Peers[2].AssocID != 1 {
		t.Errorf("IDs after a reorder: %d %d %d, want 3 6 1", st.Peers[0].AssocID, st.Peers[1].AssocID, st.Peers[2].AssocID)
	}
	// No snapshot yet: no associations.
	snap = nil
	if st := cs.ControlStatus(); len(st.Peers) != 0 {
		t.Errorf("no snapshot: %d peers", len(st.Peers))
	}
}
