package config

import (
	"strings"
	"testing"
)

// `mdns on|off`: off unless asked, errors at file:line.
func TestMDNS(t *testing.T) {
	for _, c := range []struct {
		src     string
		want    bool
		wantErr string
	}{
		{"", false, ""},
		{"mdns on", true, ""},
		{"mdns off", false, ""},
		{"mdns yes", false, "x.conf:1: mdns: expected `mdns on` or `mdns off`"},
		{"mdns", false, "x.conf:1: mdns: expected `mdns on` or `mdns off`"},
		{"mdns on\nmdns off", false, "x.conf:2: mdns: given twice (first at x.conf:1)"},
	} {
		cfg, err := Parse("x.conf", strings.NewReader(c.src))
		switch {
		case c.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Parse(%q) error = %v, want %q", c.src, err, c.wantErr)
			}
		case err != nil:
			t.Errorf("Parse(%q) = %v", c.src, err)
		case cfg.MDNS != c.want:
			t.Errorf("Parse(%q).MDNS = %v, want %v", c.src, cfg.MDNS, c.want)
		}
	}
}
