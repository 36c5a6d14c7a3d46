package ctl

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUpstreamLine(t *testing.T) {
	for _, c := range []struct {
		name string
		u    UpstreamStatus
		want string
	}{
		{"agree, our clock ahead", UpstreamStatus{OK: true, Truechimers: 3, MinSane: 2, Sources: 4, Reachable: 4,
			OffsetNs: 214e3, ErrorNs: 1.2e6, Stratum: 2, RefID: "192.0.2.1", SystemPeer: "192.0.2.1"},
			"upstream 3 of 4 agree: offset +214.000us +/-1.200ms, st 2 via 192.0.2.1"},
		{"agree, our clock behind by a second", UpstreamStatus{OK: true, Truechimers: 2, MinSane: 2, Sources: 2, Reachable: 2,
			OffsetNs: -1.0002e9, ErrorNs: 3.5e6, Stratum: 3, SystemPeer: "127.0.0.1:12300"},
			"upstream 2 of 2 agree: offset -1.000s +/-3.500ms, st 3 via 127.0.0.1:12300"},
		{"none reachable yet", UpstreamStatus{MinSane: 2, Sources: 3},
			"upstream none agree (minsane 2); 0 of 3 reachable"},
		{"one truechimer is not enough", UpstreamStatus{Truechimers: 1, MinSane: 2, Sources: 3, Reachable: 2,
			OffsetNs: 5e3, Stratum: 2, SystemPeer: "192.0.2.1"},
			"upstream 1 of 3 agree, fewer than minsane 2; 2 of 3 reachable"},
		{"a long IPv6 system peer is cut at 79 columns", UpstreamStatus{OK: true, Truechimers: 4, MinSane: 2, Sources: 4, Reachable: 4,
			OffsetNs: 1, ErrorNs: 2, Stratum: 2, SystemPeer: "[2001:db8:1234:5678:9abc:def0:1234:5678]:123"},
			"upstream 4 of 4 agree: offset +1ns +/-2ns, st 2 via [2001:db8:1234:5678:9abc:de"},
	} {
		if got := UpstreamLine(&c.u); got != c.want {
			t.Errorf("%s: UpstreamLine(%+v) =\n%q, want\n%q", c.name, c.u, got, c.want)
		}
	}
}

// The status view has the upstream line after the receiver's lines, and
// none when no upstream is configured; the live console screen has it.
func TestStatusUpstreamLine(t *testing.T) {
	s := testSnapshot()
	l := StatusLines(s)
	at := -1
	for i, x := range l {
		if strings.HasPrefix(x, "upstream ") {
			at = i
		}
	}
	if at < 0 || !strings.HasPrefix(l[at-1], "        52.20530N") || !strings.HasPrefix(l[at+1], "NTP ") {
		t.Errorf("StatusLines() =\n%s\nwant the upstream line between the receiver's and the server's", strings.Join(l, "\n"))
	}
	if rows := ScreenLines(s); !strings.Contains(strings.Join(rows, "\n"), "\nupstream 2 of 6 agree: offset +214.000us") {
		t.Errorf("ScreenLines() =\n%s\nwant the upstream line", strings.Join(rows, "\n"))
	}
	s.Upstream = nil
	if l := strings.Join(StatusLines(s), "\n"); strings.Contains(l, "upstream") {
		t.Errorf("StatusLines() without upstreams =\n%s\nwant no upstream line", l)
	}
	if l := strings.Join(SourcesLines(s), "\n"); strings.Contains(l, "upstream") {
		t.Errorf("SourcesLines() without upstreams =\n%s\nwant no upstream line", l)
	}
}

// The JSON names scripts read (gpsntpctl status -json).
func TestUpstreamJSON(t *testing.T) {
	b, err := json.Marshal(testSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"upstream":{"ok":true,"truechimers":2,"minsane":2,"sources":6,"reachable":3,"offset_ns":214000,"error_ns":1200000,"stratum":2,"refid":"192.0.2.1","system_peer":"192.0.2.1"}`,
		`"tally":"x","remote":"198.51.100.7","refid":".GPS.","stratum":1,"type":"p","host":"pool.example.org"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("json.Marshal(snapshot) lacks %s:\n%s", want, b)
		}
	}
	s := testSnapshot()
	s.Upstream = nil
	if b, _ := json.Marshal(s); strings.Contains(string(b), `"upstream"`) {
		t.Errorf("json.Marshal(snapshot without upstreams) has an upstream field:\n%s", b)
	}
}

// While GPS waits for the upstreams' first answer, the status says so;
// trusted needs no line (and vetoed is an alarm).
func TestStatusGPSCheckLine(t *testing.T) {
	for check, want := range map[string]bool{
		"waiting up to 30 s for the upstream servers' first answer": true,
		"unchecked: no upstream server has answered":                true,
		"trusted: agrees with the upstream servers":                 false,
		"": false,
	} {
		s := &Snapshot{Upstream: &UpstreamStatus{Sources: 2, GPSCheck: check}}
		got := strings.Contains(strings.Join(StatusLines(s), "\n"), "GPS "+check)
		if check == "" {
			got = strings.Contains(strings.Join(StatusLines(s), "\n"), "        GPS ")
		}
		if got != want {
			t.Errorf("GPS check %q shown: %v, want %v", check, got, want)
		}
	}
}
