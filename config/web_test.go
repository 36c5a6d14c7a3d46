package config

import (
	"strings"
	"testing"
)

func TestWebDirective(t *testing.T) {
	for _, tc := range []struct {
		line    string
		want    Web
		wantErr string
	}{
		{"web :8123", Web{Addr: ":8123"}, ""},
		{"web 192.168.1.5:8123 showposition", Web{Addr: "192.168.1.5:8123", ShowPosition: true}, ""},
		{"web [::1]:8123", Web{Addr: "[::1]:8123"}, ""},
		{"web off", Web{}, ""},
		{"web", Web{}, "gpsntp.conf:2: web: expected `web ADDR:PORT [showposition]`"},
		{"web showposition", Web{}, "gpsntp.conf:2: web: expected `web ADDR:PORT"},
		{"web gpsntp.local:8123", Web{}, "not an IP address literal"},
		{"web :8123 public", Web{}, `gpsntp.conf:2: web: unknown option "public"`},
		{"web :0", Web{}, "not a number 1-65535"},
	} {
		c, err := Parse("gpsntp.conf", strings.NewReader("# status page\n"+tc.line+"\n"))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%q) = %v, want error containing %q", tc.line, err, tc.wantErr)
			}
			continue
		}
		if err != nil || c.Web != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.line, c.Web, err, tc.want)
		}
	}
	if _, err := Parse("gpsntp.conf", strings.NewReader("web :8123\nweb :8124\n")); err == nil || !strings.Contains(err.Error(), "gpsntp.conf:2: web: given twice (first at gpsntp.conf:1)") {
		t.Errorf("two web lines: %v, want given twice", err)
	}
	if c := Defaults(); c.Web.Addr != "" {
		t.Errorf("Defaults().Web = %+v, want off", c.Web)
	}
}
