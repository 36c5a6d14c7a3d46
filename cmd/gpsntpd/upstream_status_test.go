package main

import (
	"math"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/ctl"
	"github.com/gpsntp/gpsntp/upstream"
)

// The billboard's upstream rows: the client's offset is theirs minus
// ours (ntpq's sign), the snapshot's ours minus theirs, as for PPS and
// GPS; remote, type, tally and note as ntpq users expect.
func TestUpstreamRow(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, c := range []struct {
		name string
		in   upstream.SourceStatus
		want ctl.Source
	}{
		{"system peer behind us by 2 ms: offset +2 ms",
			upstream.SourceStatus{Addr: ap("192.0.2.1:123"), Host: "ntp1.example.net", Stratum: 1, RefID: ".GPS.", Tally: '*',
				WhenS: 5, PollS: 64, Reach: 0o377, DelayNs: 1.5e6, OffsetNs: -2e6, JitterNs: 40e3, Drops: 2},
			ctl.Source{Tally: "*", Remote: "192.0.2.1", Host: "ntp1.example.net", RefID: ".GPS.", Stratum: 1, Type: "u",
				WhenS: 5, PollS: 64, Reach: 0o377, DelayNs: 1.5e6, OffsetNs: 2e6, JitterNs: 40e3, Drops: 2}},
		{"pool member ahead of us, port shown when not 123",
			upstream.SourceStatus{Addr: ap("127.0.0.1:12300"), Host: "pool.example.org", Pool: true, Stratum: 2, RefID: "192.0.2.1",
				Tally: 'x', WhenS: 0, PollS: 128, Reach: 0o17, OffsetNs: 1e9},
			ctl.Source{Tally: "x", Remote: "127.0.0.1:12300", Host: "pool.example.org", RefID: "192.0.2.1", Stratum: 2, Type: "p",
				WhenS: 0, PollS: 128, Reach: 0o17, OffsetNs: -1e9}},
		{"not resolved: the name, and why",
			upstream.SourceStatus{Host: "ntp.invalid", Stratum: 16, RefID: ".INIT.", Tally: ' ', WhenS: -1, PollS: 64,
				LastError: "resolve ntp.invalid: lookup ntp.invalid: no such host"},
			ctl.Source{Tally: " ", Remote: "ntp.invalid", Host: "ntp.invalid", RefID: ".INIT.", Stratum: 16, Type: "u", WhenS: -1, PollS: 64,
				Note: "configured, not queried: resolve ntp.invalid: lookup ntp.invalid: no such host"}},
		{"unreachable",
			upstream.SourceStatus{Addr: ap("[2001:db8::1]:123"), Host: "2001:db8::1", Stratum: 16, RefID: ".INIT.", Tally: ' ', WhenS: -1, PollS: 64,
				LastError: "no reply"},
			ctl.Source{Tally: " ", Remote: "2001:db8::1", Host: "2001:db8::1", RefID: ".INIT.", Stratum: 16, Type: "u", WhenS: -1, PollS: 64,
				Note: "no reply"}},
		{"DENY",
			upstream.SourceStatus{Addr: ap("192.0.2.7:123"), Host: "192.0.2.7", Stratum: 16, RefID: ".INIT.", Tally: ' ', WhenS: -1, PollS: 64,
				KoD: upstream.KissDeny, Stopped: true, LastError: "kiss-o'-death DENY"},
			ctl.Source{Tally: " ", Remote: "192.0.2.7", Host: "192.0.2.7", RefID: ".INIT.", Stratum: 16, Type: "u", WhenS: -1, PollS: 64,
				Note: "refused us (kiss-o'-death DENY): no longer polled"}},
		{"RATE, answering again, noselect",
			upstream.SourceStatus{Addr: ap("192.0.2.8:123"), Host: "192.0.2.8", Stratum: 2, RefID: "192.0.2.1", Tally: ' ', WhenS: 10, PollS: 128,
				Reach: 0o3, KoD: upstream.KissRate, NoSelect: true},
			ctl.Source{Tally: " ", Remote: "192.0.2.8", Host: "192.0.2.8", RefID: "192.0.2.1", Stratum: 2, Type: "u", WhenS: 10, PollS: 128, Reach: 0o3,
				Note: "asked us to poll less often (kiss-o'-death RATE); noselect: monitored only"}},
	} {
		got := upstreamRow(c.in)
		if got != c.want {
			t.Errorf("%s: upstreamRow(%+v) =\n%+v, want\n%+v", c.name, c.in, got, c.want)
		}
		if got.OffsetNs == 0 && math.Signbit(got.OffsetNs) {
			t.Errorf("%s: upstreamRow(%+v).OffsetNs = -0, want 0 (the view would show -0.000)", c.name, c.in)
		}
	}
}

// The collector keeps the refclock rows first, then one row per
// association.
func TestSourcesWithUpstreams(t *testing.T) {
	c := newCollector(time.Unix(0, 0), nil)
	ups := []upstream.SourceStatus{
		{Addr: netip.MustParseAddrPort("192.0.2.1:123"), Host: "a", Tally: '*', Stratum: 1},
		{Host: "b", Tally: ' ', Stratum: 16, LastError: "resolving"},
	}
	got := c.sources(5e9, discipline.Reference{State: discipline.PPS}, true, ups)
	var remotes []string
	for _, s := range got {
		remotes = append(remotes, s.Tally+s.Remote+"/"+s.Type)
	}
	want := []string{"oPPS(0)/l", "+GPS_NMEA(0)/l", "*192.0.2.1/u", " b/u"}
	if strings.Join(remotes, " ") != strings.Join(want, " ") {
		t.Errorf("sources() rows %q, want %q", remotes, want)
	}
}

func TestUpstreamSummary(t *testing.T) {
	ups := []upstream.SourceStatus{{Reach: 0o17}, {Reach: 0o1}, {Reach: 0}}
	est := upstream.Estimate{OffsetNs: -250e3, ErrorNs: 1.5e6, Stratum: 2, RefID: [4]byte{192, 0, 2, 1}, Truechimers: 2,
		SystemPeer: netip.MustParseAddrPort("192.0.2.1:123")}
	got := upstreamSummary(est, true, ups, 0)
	want := ctl.UpstreamStatus{OK: true, Truechimers: 2, MinSane: 2, Sources: 3, Reachable: 2,
		OffsetNs: 250e3, ErrorNs: 1.5e6, Stratum: 2, RefID: "192.0.2.1", SystemPeer: "192.0.2.1"}
	if *got != want {
		t.Errorf("upstreamSummary(ok) = %+v, want %+v (offset: ours minus theirs)", *got, want)
	}
	got = upstreamSummary(upstream.Estimate{}, false, ups[2:], 3)
	want = ctl.UpstreamStatus{MinSane: 3, Sources: 1}
	if *got != want {
		t.Errorf("upstreamSummary(nothing) = %+v, want %+v", *got, want)
	}
}

// The per-upstream series come from the snapshot's rows, with the
// snapshot's sign; refclock rows give none.
func TestUpstreamMetrics(t *testing.T) {
	s := &ctl.Snapshot{
		Sources: []ctl.Source{
			{Tally: "o", Remote: "PPS(0)", Type: "l", Reach: 0o377},
			{Tally: "*", Remote: "192.0.2.1", Host: "ntp1", Type: "u", WhenS: 3, Reach: 0o377, DelayNs: 2e6, OffsetNs: -1.5e6, JitterNs: 1e5, Drops: 4},
			{Tally: "+", Remote: "192.0.2.2", Host: "pool.example.org", Type: "p", WhenS: 9, Reach: 0o7},
			{Tally: "x", Remote: "192.0.2.3", Host: "pool.example.org", Type: "p", WhenS: 9, Reach: 0o7},
			{Tally: " ", Remote: "ntp.invalid", Host: "ntp.invalid", Type: "u", WhenS: -1},
			{Tally: " ", Remote: "ntp.invalid", Host: "ntp.invalid", Type: "u", WhenS: -1}, // the same line twice
		},
		Upstream: &ctl.UpstreamStatus{OK: true, Truechimers: 2},
	}
	srv := httptest.NewServer(metricsHandler(func() *ctl.Snapshot { return s }))
	defer srv.Close()
	mf := scrape(t, srv.URL)
	for _, c := range []struct {
		name  string
		label []string
		want  float64
	}{
		{"gpsntp_upstream_reach", []string{"addr", "192.0.2.1"}, 0o377},
		{"gpsntp_upstream_reach", []string{"addr", "ntp.invalid"}, 0},
		{"gpsntp_upstream_offset_seconds", []string{"addr", "192.0.2.1"}, -1.5e-3},
		{"gpsntp_upstream_delay_seconds", []string{"addr", "192.0.2.1"}, 2e-3},
		{"gpsntp_upstream_jitter_seconds", []string{"addr", "192.0.2.1"}, 1e-4},
		{"gpsntp_upstream_drops_total", []string{"addr", "192.0.2.1"}, 4},
		{"gpsntp_upstream_selected", []string{"addr", "192.0.2.1"}, 1},
		{"gpsntp_upstream_selected", []string{"addr", "192.0.2.2"}, 1},
		{"gpsntp_upstream_selected", []string{"addr", "192.0.2.3"}, 0},
		{"gpsntp_upstream_selected", []string{"host", "ntp.invalid"}, 0},
		{"gpsntp_upstream_truechimers", nil, 2},
		{"gpsntp_upstream_ok", nil, 1},
		{"gpsntp_state", []string{"state", "upstream"}, 0}, // the fallback state has its series
	} {
		if got := value(t, mf, c.name, c.label...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.label, got, c.want)
		}
	}
	if n := len(mf["gpsntp_upstream_reach"].Metric); n != 4 {
		t.Errorf("gpsntp_upstream_reach: %d series, want 4 (upstream rows, the repeated line once)", n)
	}
	for _, m := range mf["gpsntp_upstream_offset_seconds"].Metric {
		for _, l := range m.Label {
			if l.GetValue() == "ntp.invalid" {
				t.Errorf("gpsntp_upstream_offset_seconds for a source never heard from: %v", m)
			}
		}
	}
	// No upstream configured: no upstream series at all.
	s = &ctl.Snapshot{Sources: []ctl.Source{{Remote: "PPS(0)", Type: "l"}}}
	for name := range scrape(t, srv.URL) {
		if strings.HasPrefix(name, "gpsntp_upstream_") {
			t.Errorf("/metrics without upstreams has %s", name)
		}
	}
}
