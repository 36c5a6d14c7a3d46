package discipline

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParseLeapFile parses arbitrary text as a leap-seconds.list (the file
// named by `leapfile`, outside input). It must not panic; an error names
// the file; a table it accepts is sane:
//   - events in strictly increasing time order, on whole seconds, after
//     1970, fewer than the entry lines;
//   - the expiry (if any) a time that UnixNano represents, so the expiry
//     check (current) compares real instants;
//   - Next finds each event from just before it, and Announce puts its
//     direction on the wire in its last second;
//   - written back as a leap-seconds.list, it parses to the same table.
func FuzzParseLeapFile(f *testing.F) {
	debian, err := os.ReadFile("testdata/leap-seconds.list")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(debian)
	ntp := func(y int, m time.Month) int64 {
		return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Unix() + ntpEpochOffsetS
	}
	f.Add([]byte(fmt.Sprintf("#@ %d\n%d 37\n%d 38 # insert\n%d 37 # delete\n", ntp(2028, 6), ntp(2017, 1), ntp(2027, 1), ntp(2027, 7))))
	f.Add([]byte("2272060800\t10\t# 1 Jan 1972\n2287785600\t11\t# 1 Jul 1972\n#@\t3960144000\n"))
	f.Add([]byte("#$\t 3929093563\n#@ 3960144000\n\n  \t\n3692217600 37\n"))
	f.Add([]byte("3692217600 37\n3644697600 36\n")) // out of order
	f.Add([]byte("#@ soon\n"))
	f.Add([]byte("3692217600 37 38\n"))
	f.Add([]byte("9223372036854775807 37\n"))
	// Found by this fuzzer before ParseLeapFile refused NTP seconds beyond
	// 2200: an expiry that UnixNano cannot represent, and an entry whose
	// ns overflowed (events out of order, before 1970).
	f.Add([]byte("#@ 99999999999999\n3692217600 37\n"))
	f.Add([]byte("2210000000 0\n11700000000 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lt, err := ParseLeapFile("fuzz.list", bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.list:") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		entries := 0
		for _, l := range strings.Split(string(data), "\n") {
			if i := strings.IndexByte(l, '#'); i >= 0 {
				l = l[:i]
			}
			if strings.TrimSpace(l) != "" {
				entries++
			}
		}
		if len(lt.Events) >= max(entries, 1) {
			t.Fatalf("%d events from %d entry lines", len(lt.Events), entries)
		}
		prev := int64(0)
		for i, e := range lt.Events {
			if e.AtNs <= prev || e.AtNs%1e9 != 0 {
				t.Fatalf("event %d at %d ns: want whole seconds, after 1970 and after the event before (%d)", i, e.AtNs, prev)
			}
			prev = e.AtNs
			if got, ok := lt.Next(e.AtNs - 1); !ok || got != e {
				t.Fatalf("Next(%d) = %+v, %v; want event %d %+v", e.AtNs-1, got, ok, i, e)
			}
			want := map[bool]Leap{true: LeapInsert, false: LeapDelete}[e.Insert]
			if li, _ := lt.Announce(e.AtNs - 1); li != want {
				t.Fatalf("Announce(%d), the last second before event %d %+v = %d, want %d", e.AtNs-1, i, e, li, want)
			}
		}
		if !lt.Expires.IsZero() && !time.Unix(0, lt.Expires.UnixNano()).Equal(lt.Expires) {
			t.Fatalf("expiry %v cannot be compared in Unix ns: current() would judge it wrongly", lt.Expires)
		}

		// Written back: an entry at 1970 (before any event: events come
		// after an entry, and entries start at 1970), then one per event,
		// TAI−UTC moving by one second each time.
		var b strings.Builder
		if !lt.Expires.IsZero() {
			fmt.Fprintf(&b, "#@ %d\n", lt.Expires.Unix()+ntpEpochOffsetS)
		}
		off := 1000
		fmt.Fprintf(&b, "%d %d\n", int64(ntpEpochOffsetS), off)
		for _, e := range lt.Events {
			off += map[bool]int{true: 1, false: -1}[e.Insert]
			fmt.Fprintf(&b, "%d %d\n", e.AtNs/1e9+ntpEpochOffsetS, off)
		}
		again, err := ParseLeapFile("again", strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("table written back does not parse: %v\n%s", err, b.String())
		}
		if fmt.Sprint(again.Events) != fmt.Sprint(lt.Events) || !again.Expires.Equal(lt.Expires) {
			t.Fatalf("written back and parsed: %+v expires %v\nwant %+v expires %v", again.Events, again.Expires, lt.Events, lt.Expires)
		}
	})
}
