package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const corpus = "../../gps/testdata/nmea/"

// TestDecodeExactFormat: the output of a clean capture is byte-identical to
// gpsd's mode ≥ 2 lines collapsed per epoch, in time order.
func TestDecodeExactFormat(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"decode", corpus + "mt3339.log"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want, err := os.ReadFile(corpus + "mt3339.expect")
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("decode mt3339.log:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestDecodeDateFlagAndHeader(t *testing.T) {
	dir := t.TempDir()
	body := "$GPRMC,225308,A,4527.458,S,16709.165,E,000.0,094.5,060601,024.1,E*6D\r\n" +
		"$GPGGA,225308,4527.458,S,16709.165,E,1,05,2.1,14.7,M,1.1,M,,*53\r\n"
	noHeader := filepath.Join(dir, "a.log")
	os.WriteFile(noHeader, []byte(body), 0o644)
	withHeader := filepath.Join(dir, "b.log")
	os.WriteFile(withHeader, []byte("# Date: 2005-3-11T\n# comment\n"+body), 0o644)

	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"header", []string{"decode", withHeader}, 0, "2001-06-06T22:53:08.000Z 3\n"},
		// -date 2021-01-20: floor ≈ 2011-04, so 2001-06-06 is one GPS week
		// rollover early and is moved 1024 weeks on, to 2021-01-20.
		{"-date overrides header", []string{"decode", "-date", "2021-01-20", withHeader}, 0, "2021-01-20T22:53:08.000Z 3\n"},
		{"-date without header", []string{"decode", "-date", "2001-06-01", noHeader}, 0, "2001-06-06T22:53:08.000Z 3\n"},
		{"no date at all", []string{"decode", noHeader}, 1, ""},
		{"bad -date", []string{"decode", "-date", "06/06/2001", noHeader}, 2, ""},
		{"no files", []string{"decode"}, 2, ""},
		{"unknown command", []string{"frobnicate"}, 2, ""},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || out.String() != tc.out {
			t.Errorf("%s: run(%q) = %d %q (stderr %q), want %d %q", tc.name, tc.args, code, out.String(), errb.String(), tc.code, tc.out)
		}
		if tc.code != 0 && !strings.Contains(errb.String(), "usage") && !strings.Contains(errb.String(), "gpsntpctl") {
			t.Errorf("%s: stderr %q does not explain", tc.name, errb.String())
		}
	}
}
