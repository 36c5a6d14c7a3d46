package restrict

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseRestrict(t *testing.T) {
	tests := []struct {
		line    string
		prefix  string
		def     bool
		both    bool
		flags   Flags
		wantErr string
	}{
		{line: "default nomodify notrap nopeer noquery kod limited", prefix: "0.0.0.0/0", def: true, both: true,
			flags: NoModify | NoTrap | NoPeer | NoQuery | KoD | Limited},
		{line: "-4 default ignore", prefix: "0.0.0.0/0", def: true, flags: Ignore},
		{line: "-6 default noserve", prefix: "::/0", def: true, flags: NoServe},
		{line: "127.0.0.1", prefix: "127.0.0.1/32"},
		{line: "::1", prefix: "::1/128"},
		{line: "192.168.1.0 mask 255.255.255.0 nomodify notrap", prefix: "192.168.1.0/24", flags: NoModify | NoTrap},
		{line: "192.168.1.77 mask 255.255.0.0", prefix: "192.168.0.0/16"},
		{line: "2001:db8:: mask ffff:ffff:: noquery", prefix: "2001:db8::/32", flags: NoQuery},
		{line: "10.0.0.0/8 limited kod", prefix: "10.0.0.0/8", flags: Limited | KoD},
		{line: "2001:db8:1::/48 ignore", prefix: "2001:db8:1::/48", flags: Ignore},
		{line: "-6 2001:db8::1 version notrust noepeer lowpriotrap nomrulist", prefix: "2001:db8::1/128",
			flags: Version | NoTrust | NoEPeer | LowPrioTrap | NoMRUList},
		{line: "", wantErr: `want "default"`},
		{line: "-4", wantErr: `want "default"`},
		{line: "ntp.example.org nomodify", wantErr: "host names are not resolved"},
		{line: "10.0.0.0/33", wantErr: "bad prefix"},
		{line: "10.0.0.0 mask", wantErr: "want a mask"},
		{line: "10.0.0.0 mask 255.0.255.0", wantErr: "not a contiguous mask"},
		{line: "10.0.0.0 mask ffff::", wantErr: "other address family"},
		{line: "-6 10.0.0.1", wantErr: "other family"},
		{line: "default nomodfy", wantErr: `unknown flag "nomodfy": want one of ignore,`},
		{line: "source nopeer", wantErr: "not supported"},
		{line: "fe80::1%eth0", wantErr: "zones"},
	}
	for _, tt := range tests {
		r, err := ParseRestrict(strings.Fields(tt.line))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRestrict(%q) = %v, want error containing %q", tt.line, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRestrict(%q): %v", tt.line, err)
			continue
		}
		want := Rule{Prefix: netip.MustParsePrefix(tt.prefix), Default: tt.def, Both: tt.both, Flags: tt.flags}
		if r != want {
			t.Errorf("ParseRestrict(%q) = %+v, want %+v", tt.line, r, want)
		}
	}
}

func TestTableLookup(t *testing.T) {
	var rules []Rule
	for _, l := range []string{
		"default kod limited nomodify notrap nopeer noquery",
		"-6 default kod limited nomodify notrap nopeer noquery ignore",
		"127.0.0.1",
		"::1",
		"192.168.0.0/16 nomodify",
		"192.168.1.0 mask 255.255.255.0 noserve",
		"192.168.1.0/24 notrap", // same prefix: flags add up, as in ntpd
		"192.168.1.5 ignore",
		"2001:db8::/32 nopeer",
	} {
		r, err := ParseRestrict(strings.Fields(l))
		if err != nil {
			t.Fatalf("ParseRestrict(%q): %v", l, err)
		}
		rules = append(rules, r)
	}
	tab := NewTable(rules)
	def4 := KoD | Limited | NoModify | NoTrap | NoPeer | NoQuery
	tests := []struct {
		addr string
		want Flags
	}{
		{"8.8.8.8", def4},
		{"127.0.0.1", 0},
		{"127.0.0.2", def4},
		{"::1", 0},
		{"2001:db9::1", def4 | Ignore},
		{"2001:db8::99", NoPeer},
		{"192.168.7.1", NoModify},
		{"192.168.1.4", NoServe | NoTrap},
		{"192.168.1.5", Ignore},
		{"::ffff:192.168.1.5", Ignore},
	}
	for _, tt := range tests {
		if got := tab.Lookup(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Lookup(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	var nilTab *Table
	if got := nilTab.Lookup(netip.MustParseAddr("10.0.0.1")); got != 0 {
		t.Errorf("nil Table Lookup = %q, want no flags", got)
	}
	a := netip.MustParseAddr("192.168.1.4")
	if allocs := testing.AllocsPerRun(1000, func() { tab.Lookup(a) }); allocs != 0 {
		t.Errorf("Lookup allocs = %v, want 0", allocs)
	}
}

func TestParseDiscard(t *testing.T) {
	tests := []struct {
		line    string
		want    Discard
		wantErr string
	}{
		{line: "average 3 minimum 2", want: Discard{3, 2}},
		{line: "average 5", want: Discard{5, 2}},
		{line: "minimum 1 monitor 3000", want: Discard{3, 1}},
		{line: "", wantErr: "want"},
		{line: "average", wantErr: "want a number"},
		{line: "average x", wantErr: "bad number"},
		{line: "average 17", wantErr: "0..16"},
		{line: "minimum -1", wantErr: "0..64"},
		{line: "burst 3", wantErr: "unknown option"},
	}
	for _, tt := range tests {
		d, err := ParseDiscard(strings.Fields(tt.line))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDiscard(%q) = %v, want error containing %q", tt.line, err, tt.wantErr)
			}
			continue
		}
		if err != nil || d != tt.want {
			t.Errorf("ParseDiscard(%q) = %+v, %v; want %+v", tt.line, d, err, tt.want)
		}
	}
}

func TestFlagsString(t *testing.T) {
	if got := (NoModify | KoD | Limited).String(); got != "nomodify kod limited" {
		t.Errorf("String() = %q", got)
	}
}
