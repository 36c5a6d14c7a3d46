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
		{line: "::ffff:192.0.2.7 noquery", prefix: "192.0.2.7/32", flags: NoQuery}, // a mapped host is its IPv4 address
		{line: "::/64 nopeer", prefix: "::/64", flags: NoPeer},
		{line: "", wantErr: `want "default"`},
		{line: "-4", wantErr: `want "default"`},
		{line: "ntp.example.org nomodify", wantErr: "host names are not resolved"},
		{line: "10.0.0.0/33", wantErr: "bad prefix"},
		{line: "10.0.0.0 mask", wantErr: "want a mask"},
		{line: "10.0.0.0 mask 255.0.255.0", wantErr: "not a contiguous mask"},
		{line: "10.0.0.0 mask ffff::", wantErr: "other address family"},
		{line: "-6 10.0.0.1", wantErr: "other family"},
		{line: "default nomodfy", wantErr: `unknown flag "nomodfy": want one of ignore,`},
		{line: "source nopeer", wantErr: "`restrict source` applies to the associations of `server` and `pool` lines, which gpsntpd keeps apart from serving"},
		{line: "default kod", wantErr: "default: kod without limited does nothing: ntpd sends a kiss-o'-death only to clients that the `limited` rate limit"},
		{line: "10.0.0.0/8 kod nomodify", wantErr: "kod without limited"},
		{line: "::ffff:127.0.4.0/120 ignore", wantErr: "prefix ::ffff:127.0.4.0/120 is IPv4-mapped, which no client matches: IPv4 clients match IPv4 rules; write it as 127.0.4.0/24"},
		{line: "::ffff:0.0.0.0/96", wantErr: "write it as 0.0.0.0/0"},
		{line: "::ffff:10.1.2.3/128", wantErr: "write it as 10.1.2.3/32"},
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

// The caller adds "file:line: restrict: " (or "discard: "); the package's
// messages must not repeat the directive ("restrict: restrict: bad
// address" in issue 10).
func TestErrorsDoNotRepeatDirective(t *testing.T) {
	for _, line := range []string{"", "-4", "ntp.example.org", "10.0.0.0/33", "10.0.0.0 mask", "10.0.0.0 mask x",
		"10.0.0.0 mask ffff::", "10.0.0.0 mask 255.0.255.0", "-6 10.0.0.1", "default bogus", "source", "fe80::1%eth0",
		"default kod", "::ffff:10.0.0.0/104"} {
		_, err := ParseRestrict(strings.Fields(line))
		if err == nil {
			t.Errorf("ParseRestrict(%q) = nil, want an error", line)
			continue
		}
		if strings.HasPrefix(err.Error(), "restrict") {
			t.Errorf("ParseRestrict(%q) error = %q, starts with \"restrict\" (the caller adds it)", line, err)
		}
	}
	for _, line := range []string{"", "average", "average x", "average 17", "minimum -1", "monitor -1", "burst 3"} {
		_, err := ParseDiscard(strings.Fields(line))
		if err == nil || strings.HasPrefix(err.Error(), "discard") {
			t.Errorf("ParseDiscard(%q) error = %v, want one not starting with \"discard\"", line, err)
		}
	}
}

func TestRuleStringRoundTrip(t *testing.T) {
	for _, line := range []string{"default kod limited nomodify", "-4 default ignore", "-6 default", "127.0.0.1",
		"192.168.1.77 mask 255.255.0.0 noserve", "2001:db8::/32 nopeer version", "::ffff:10.0.0.1"} {
		r, err := ParseRestrict(strings.Fields(line))
		if err != nil {
			t.Fatalf("ParseRestrict(%q): %v", line, err)
		}
		back, err := ParseRestrict(strings.Fields(r.String()))
		if err != nil || back != r {
			t.Errorf("ParseRestrict(%q).String() = %q, which parses as %+v, %v; want %+v", line, r.String(), back, err, r)
		}
	}
}

// FuzzParseRestrict: no line panics the parser; an accepted rule reads
// back from its String, and a table of it alone gives its flags to the
// address it names (any address, for a default) and never panics.
func FuzzParseRestrict(f *testing.F) {
	for _, s := range []string{
		"default nomodify notrap nopeer noquery kod limited", "-6 default ignore", "127.0.0.1", "::1",
		"192.168.1.0 mask 255.255.255.0 nomodify notrap", "2001:db8::/32 nopeer", "::ffff:127.0.4.0/120 ignore",
		"source nopeer", "fe80::1%eth0", "10.0.0.0 mask 255.0.255.0", "default kod",
	} {
		f.Add(s)
	}
	probe := []netip.Addr{netip.MustParseAddr("127.0.4.1"), netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("fe80::1%eth0"), {}}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRestrict(strings.Fields(line))
		if err != nil {
			return
		}
		back, err := ParseRestrict(strings.Fields(r.String()))
		if err != nil || back != r {
			t.Fatalf("ParseRestrict(%q) = %+v; its String %q parses as %+v, %v", line, r, r.String(), back, err)
		}
		tab := NewTable([]Rule{r})
		a := r.Prefix.Addr()
		if got := tab.Lookup(a); got != r.Flags {
			t.Fatalf("table of %q: Lookup(%s) = %q, want %q", line, a, got, r.Flags)
		}
		for _, p := range probe {
			tab.Lookup(p)
		}
	})
}

// FuzzLookup: the table's answer for any address is that of the longest
// matching prefix among the rules (flags merged per prefix), else the
// family's default, computed here the slow way.
func FuzzLookup(f *testing.F) {
	lines := []string{
		"default kod limited nomodify", "-6 default ignore", "127.0.0.1", "::1", "192.168.0.0/16 nomodify",
		"192.168.1.0/24 noserve", "192.168.1.0 mask 255.255.255.0 notrap", "192.168.1.5 ignore",
		"2001:db8::/32 nopeer", "2001:db8:1::/48 noquery", "0.0.0.0/1 version", "10.0.0.0/8",
	}
	var rules []Rule
	for _, l := range lines {
		r, err := ParseRestrict(strings.Fields(l))
		if err != nil {
			f.Fatalf("ParseRestrict(%q): %v", l, err)
		}
		rules = append(rules, r)
	}
	tab := NewTable(rules)
	want := func(a netip.Addr) Flags {
		a = a.Unmap()
		bits, flags, found := -1, Flags(0), false
		for _, r := range rules {
			if r.Default {
				continue
			}
			if r.Prefix.Contains(a) {
				if r.Prefix.Bits() > bits {
					bits, flags, found = r.Prefix.Bits(), r.Flags, true
				} else if r.Prefix.Bits() == bits {
					flags |= r.Flags
				}
			}
		}
		if found {
			return flags
		}
		for _, r := range rules {
			if r.Default && (r.Both || r.Prefix.Addr().Is4() == a.Is4()) {
				flags |= r.Flags
			}
		}
		return flags
	}
	for _, s := range []string{"192.168.1.5", "192.168.1.6", "::ffff:192.168.1.5", "2001:db8:1::9", "8.8.8.8", "200.1.1.1", "fe80::1"} {
		f.Add(netip.MustParseAddr(s).AsSlice())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		if got, w := tab.Lookup(a), want(a); got != w {
			t.Fatalf("Lookup(%s) = %q, want %q", a, got, w)
		}
	})
}
