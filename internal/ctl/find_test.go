package ctl

import (
	"strings"
	"testing"
)

func TestAddressLine(t *testing.T) {
	for _, c := range []struct {
		name   string
		addrs  []string
		mdns   string
		listen []string
		want   string
	}{
		{"LAN, mDNS, wildcard", []string{"192.168.1.23", "fd00::23"}, "gpsntp.local", []string{"0.0.0.0:123"},
			"address 192.168.1.23, fd00::23  (gpsntp.local)  ntp: 192.168.1.23:123"},
		{"no mDNS, IPv6 wildcard on another port", []string{"192.168.1.23", "fd00::23"}, "", []string{"[::]:1123"},
			"address 192.168.1.23, fd00::23  ntp: 192.168.1.23:1123"},
		{"IPv6 only", []string{"fd00::23"}, "gpsntp.local", []string{":123"},
			"address fd00::23  (gpsntp.local)  ntp: [fd00::23]:123"},
		{"IPv4 wildcard, IPv6 only", []string{"fd00::23"}, "", []string{"0.0.0.0:123"}, "address fd00::23"},
		{"a listen address named", []string{"192.168.1.23", "10.0.0.2"}, "", []string{"10.0.0.2:123"},
			"address 192.168.1.23, 10.0.0.2  ntp: 10.0.0.2:123"},
		{"no network", nil, "gpsntp.local", []string{":123"}, "address none: no network yet (plug in Ethernet; DHCP needed)"},
		{"too many to fit", []string{"192.168.1.23", "2001:db8:1234:5678:9abc:def0:1234:5678", "2001:db8:1234:5678:9abc:def0:1234:5679", "fd00::23"}, "gpsntp.local", []string{":123"},
			"address 192.168.1.23 +3  (gpsntp.local)  ntp: 192.168.1.23:123"},
		{"some fit", []string{"192.168.1.23", "10.1.2.3", "2001:db8:1234:5678:9abc:def0:1234:5679", "fd00::23"}, "gpsntp.local", []string{":123"},
			"address 192.168.1.23, 10.1.2.3 +2  (gpsntp.local)  ntp: 192.168.1.23:123"},
	} {
		s := testSnapshot()
		s.Addresses, s.MDNSName, s.Server.Listen = c.addrs, c.mdns, c.listen
		got := AddressLine(s)
		if got != c.want {
			t.Errorf("%s: AddressLine() = %q, want %q", c.name, got, c.want)
		}
		if len(got) > 79 {
			t.Errorf("%s: AddressLine() is %d columns", c.name, len(got))
		}
	}
}

// The status view (gpsntpctl status, the console) shows where the board is.
func TestStatusShowsAddresses(t *testing.T) {
	s := testSnapshot()
	s.Addresses, s.MDNSName = []string{"192.168.1.23", "fd00::23"}, "gpsntp.local"
	want := "address 192.168.1.23, fd00::23  (gpsntp.local)  ntp: 192.168.1.23:123"
	if l := StatusLines(s); !strings.Contains(strings.Join(l, "\n"), want) {
		t.Errorf("StatusLines() =\n%s\nwant a line %q", strings.Join(l, "\n"), want)
	}
}
