package discipline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// leapFileText is a leap-seconds.list with the last two entries of the
// IERS file and the given expiry (zero: no `#@` line).
func leapFileText(expires time.Time) string {
	s := "# test file\n"
	if !expires.IsZero() {
		s += "#@\t" + itoa(expires.Unix()+ntpEpochOffsetS) + "\n"
	}
	return s + "3644697600\t36\t# 1 Jul 2015\n3692217600\t37\t# 1 Jan 2017\n"
}

func TestChooseLeapFile(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	dir := t.TempDir()
	files := map[string]string{
		"builtin": leapFileText(day(2027, 6, 28)),
		"newer":   leapFileText(day(2027, 12, 28)),
		"newest":  leapFileText(day(2028, 6, 28)),
		"older":   leapFileText(day(2026, 12, 28)),
		"same":    leapFileText(day(2027, 6, 28)),
		"noexp":   leapFileText(time.Time{}),
		// A download cut short, then edited by hand: line 4 is not an entry.
		"broken": "#@\t" + itoa(day(2029, 1, 1).Unix()+ntpEpochOffsetS) + "\n3644697600\t36\n3692217600\t37\n3692217600x 38\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		paths   []string
		want    string // "" none
		expires time.Time
		// rejected: the errors, each checked to name dir/its text
		rejected []string
	}{
		{"the built-in alone", []string{"builtin"}, "builtin", day(2027, 6, 28), nil},
		{"a newer one overrides", []string{"builtin", "newer"}, "newer", day(2027, 12, 28), nil},
		{"the newest of several", []string{"builtin", "newest", "newer"}, "newest", day(2028, 6, 28), nil},
		{"an older one does not", []string{"builtin", "older"}, "builtin", day(2027, 6, 28), nil},
		{"a tie keeps the first", []string{"builtin", "same"}, "builtin", day(2027, 6, 28), nil},
		{"one without expiry ranks last", []string{"noexp", "older"}, "older", day(2026, 12, 28), nil},
		{"without expiry, alone", []string{"noexp"}, "noexp", time.Time{}, nil},
		{"a broken one is skipped, saying file:line", []string{"builtin", "broken", "newer"}, "newer", day(2027, 12, 28),
			[]string{"broken:4: want `NTP-seconds TAI-UTC`"}},
		{"a missing one is skipped", []string{"missing", "builtin"}, "builtin", day(2027, 6, 28),
			[]string{"missing: no such file"}},
		{"none usable", []string{"broken", "missing"}, "", time.Time{},
			[]string{"broken:4:", "missing: no such file"}},
		{"none given", nil, "", time.Time{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths := make([]string, len(tc.paths))
			for i, p := range tc.paths {
				paths[i] = filepath.Join(dir, p)
			}
			path, lt, rejected := ChooseLeapFile(paths)
			if got := filepath.Base(path); path == "" && tc.want != "" || path != "" && got != tc.want {
				t.Errorf("ChooseLeapFile(%q) = %q, want %q", tc.paths, path, tc.want)
			}
			if (lt == nil) != (tc.want == "") {
				t.Errorf("ChooseLeapFile(%q) table = %v, want one iff a file is chosen", tc.paths, lt)
			}
			if lt != nil && !lt.Expires.Equal(tc.expires) {
				t.Errorf("ChooseLeapFile(%q) expires %v, want %v", tc.paths, lt.Expires, tc.expires)
			}
			if len(rejected) != len(tc.rejected) {
				t.Fatalf("ChooseLeapFile(%q) rejected %q, want %d errors %q", tc.paths, rejected, len(tc.rejected), tc.rejected)
			}
			for i, want := range tc.rejected {
				if !strings.Contains(rejected[i].Error(), filepath.Join(dir, want)) {
					t.Errorf("rejected[%d] = %v, want it to say %q", i, rejected[i], want)
				}
			}
		})
	}
}
