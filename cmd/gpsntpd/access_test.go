package main

import (
	"net/netip"
	"testing"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/ntpserve/restrict"
)

// TestDefaultAccessQueriesLoopbackOnly: with no restrict line, NTP is
// served to everyone, unlimited, and mode 6 answered on loopback only
// (before, the table was nil and every address could query).
func TestDefaultAccessQueriesLoopbackOnly(t *testing.T) {
	table, _, err := accessRules(config.Config{})
	if err != nil || table == nil {
		t.Fatalf("accessRules = %v, %v", table, err)
	}
	for _, tt := range []struct {
		addr  string
		query bool
	}{{"127.0.0.1", true}, {"::1", true}, {"192.0.2.7", false}, {"2001:db8::7", false}, {"127.0.0.2", false}} {
		f := table.Lookup(netip.MustParseAddr(tt.addr))
		if f&(restrict.Ignore|restrict.NoServe|restrict.Limited|restrict.NoTrust) != 0 {
			t.Errorf("%s: flags %v limit NTP service", tt.addr, f)
		}
		if got := f&restrict.NoQuery == 0; got != tt.query {
			t.Errorf("%s: mode 6 allowed %v, want %v", tt.addr, got, tt.query)
		}
	}
}
