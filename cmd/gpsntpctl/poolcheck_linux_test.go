//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/discipline"
	"github.com/gpsntp/gpsntp/internal/poolcheck"
	"github.com/gpsntp/gpsntp/ntpserve"
)

type hostClock struct{}

func (hostClock) Now() int64             { return time.Now().UnixNano() }
func (hostClock) Map(realNs int64) int64 { return realNs }

// ntpServer serves host time on loopback, synchronised or not, until the
// test ends, and returns its address.
func ntpServer(t *testing.T, synced bool) string {
	t.Helper()
	addr, _, _ := ntpServerRef(t, synced)
	return addr
}

// ntpServerRef is ntpServer that also returns the published reference
// (to synchronise it later) and the server.
func ntpServerRef(t *testing.T, synced bool) (string, *atomic.Pointer[discipline.Reference], *ntpserve.Server) {
	t.Helper()
	ref := &discipline.Reference{State: discipline.PPS, Synchronised: true, Stratum: 1,
		RefID: [4]byte{'P', 'P', 'S', 0}, RefTimeNs: time.Now().UnixNano(), RootDispersionNs: 2000,
		DispersionRateNsPerS: 15000, Precision: -20}
	if !synced {
		ref.Synchronised, ref.State, ref.Leap = false, discipline.Unsynchronised, discipline.LeapAlarm
	}
	p := &atomic.Pointer[discipline.Reference]{}
	p.Store(ref)
	s, err := ntpserve.New(ntpserve.Config{Listen: []string{"127.0.0.1:0"}, Clock: hostClock{}, Ref: p, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s.Addrs()[0].String(), p, s
}

// A server that locks after the first check (as gpsntpd -sim does a few
// seconds after it starts): the projection of all checks repeats the
// start-up deduction, the projection of the last one does not. The
// reference is synchronised as soon as the server has answered
// unsynchronised once (the first check ends there), a second before the
// next check.
func TestPoolcheckLocksAfterFirstCheck(t *testing.T) {
	addr, ref, srv := ntpServerRef(t, false)
	go func() {
		for srv.Stats().Outcomes[ntpserve.OutReplyUnsync] == 0 {
			time.Sleep(time.Millisecond)
		}
		r := *ref.Load()
		r.Synchronised, r.State, r.Leap = true, discipline.PPS, discipline.LeapNone
		ref.Store(&r)
	}()
	var out, errb bytes.Buffer
	if code := run([]string{"poolcheck", "-n", "3", "-interval", "1s", "-spacing", "5ms", addr}, &out, &errb); code != 0 {
		t.Fatalf("poolcheck: exit %d, %s", code, errb.String())
	}
	text := out.String()
	for _, s := range []string{
		"    1  ", "unsync (query 1)",
		"If every further check goes as these 3 did (repeated in order):\n  it never gets above 10",
		"If every further check goes as the last one did:\n  it crosses 10 (into the Pool) after",
		"it settles at 20.00 (in the Pool).",
		"Deductions (1 of 3 checks earned less than +1):\n  check 1: -4.00  unsynchronised",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("poolcheck output lacks %q:\n%s", s, text)
		}
	}
}

var fast = []string{"-interval", "20ms", "-spacing", "5ms", "-timeout", "5s"}

// The text: a line per check with the running score, the score the tally
// implies, the projection, and the plot files (flags after HOST too).
func TestPoolcheckText(t *testing.T) {
	addr := ntpServer(t, true)
	dir := t.TempDir()
	for _, name := range []string{"score.svg", "score.png"} {
		plot := filepath.Join(dir, name)
		var out, errb bytes.Buffer
		args := append([]string{"poolcheck", "-n", "20"}, fast...)
		args = append(args, addr, "-plot", plot)
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("poolcheck: exit %d, %s", code, errb.String())
		}
		text := out.String()
		want := 20 * (1 - math.Pow(0.95, 20))
		for _, s := range []string{
			"poolcheck assumes the machine running it keeps good time",
			"kernel receive timestamps",
			"   20  ",
			fmt.Sprintf("Score after 20 checks: %.2f,", want),
			"it stays above 10 (in the Pool)",
			"it settles at 20.00 (in the Pool)",
			"No deductions",
			"Note: 127.0.0.1 is not a public address",
			"Note: a check every 20ms is faster than the monitor's 9m0s",
			"Note: queries 5ms apart break `discard minimum 2`",
		} {
			if !strings.Contains(text, s) {
				t.Errorf("poolcheck output lacks %q:\n%s", s, text)
			}
		}
		f, err := os.Open(plot)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".png") {
			if _, err := png.Decode(f); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		} else {
			d := xml.NewDecoder(f)
			for {
				_, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Errorf("%s does not parse as XML: %v", name, err)
					break
				}
			}
		}
		f.Close()
	}
}

// An unsynchronised server: every check −4, the reason given, and a
// projection that never gets in.
func TestPoolcheckUnsynchronisedJSON(t *testing.T) {
	addr := ntpServer(t, false)
	var out, errb bytes.Buffer
	args := append(append([]string{"poolcheck", "-n", "3", "-json"}, fast...), addr)
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("poolcheck: exit %d, %s", code, errb.String())
	}
	var got struct {
		Checks     []poolcheck.Checked
		Score      float64
		Projection poolcheck.Projection
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("-json output does not decode: %v\n%s", err, out.String())
	}
	want := 0.0
	for range 3 {
		want = poolcheck.Next(want, -4, poolcheck.MaxScore)
	}
	if len(got.Checks) != 3 || got.Score != want || got.Projection.In || math.Abs(got.Projection.SettleLow+80) > 1e-6 {
		t.Errorf("-json: %d checks, score %v, projection %+v; want 3, %v, settling at -80", len(got.Checks), got.Score, got.Projection, want)
	}
	for i, c := range got.Checks {
		if c.Step != -4 || !strings.Contains(c.Reason, "unsynchronised: leap indicator 3, stratum 0") {
			t.Errorf("check %d: step %v reason %q", i+1, c.Step, c.Reason)
		}
	}

	out.Reset()
	args = append(append([]string{"poolcheck", "-n", "2"}, fast...), addr)
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("poolcheck: exit %d, %s", code, errb.String())
	}
	for _, s := range []string{"unsync (query 1)", "it never gets above 10", "Deductions (2 of 2 checks earned less than +1):", "check 2: -4.00  unsynchronised"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("poolcheck output lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "as the last one did") {
		t.Errorf("checks that all went the same way are projected twice:\n%s", out.String())
	}
}

func TestPoolcheckBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "usage: gpsntpctl poolcheck"},
		{[]string{""}, 2, "poolcheck: empty HOST"},
		{[]string{"a", "b"}, 2, "usage: gpsntpctl poolcheck"},
		{[]string{"example.org:0"}, 2, `port 0 in "example.org:0" out of range: want 1-65535`},
		{[]string{"example.org:65536"}, 2, "out of range: want 1-65535"},
		{[]string{"example.org:ntp"}, 2, `bad port "ntp"`},
		{[]string{"example.org:"}, 2, "empty port"},
		{[]string{"bad host"}, 2, `bad HOST "bad host": ' ' is not allowed`},
		{[]string{"a..b"}, 2, "labels of 1 to 63"},
		{[]string{"[::1"}, 2, "bad HOST[:PORT]"},
		{[]string{"::1::2"}, 2, "not an IPv6 address"},
		{[]string{"nonexistent.invalid"}, 1, "poolcheck: nonexistent.invalid does not resolve"},
		{[]string{"-plot", "x.gif", "127.0.0.1"}, 2, "want a file name ending in .svg or .png"},
		{[]string{"-n", "-1", "127.0.0.1"}, 2, "want 0 or more checks"},
		{[]string{"-spacing", "0s", "127.0.0.1"}, 2, "must be positive"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"poolcheck"}, tc.args...), &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("poolcheck %q: exit %d, stderr %q; want %d, %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		host string
		port uint16
	}{
		{"time.example.org", "time.example.org", 123},
		{"time.example.org:1230", "time.example.org", 1230},
		{"192.0.2.1", "192.0.2.1", 123},
		{"192.0.2.1:65535", "192.0.2.1", 65535},
		{"2001:db8::1", "2001:db8::1", 123},
		{"[2001:db8::1]", "2001:db8::1", 123},
		{"[2001:db8::1]:12300", "2001:db8::1", 12300},
		{"pi.local.", "pi.local.", 123},
	} {
		host, port, err := parseTarget(tc.in)
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("parseTarget(%q) = %q, %d, %v; want %q, %d", tc.in, host, port, err, tc.host, tc.port)
		}
	}
}
