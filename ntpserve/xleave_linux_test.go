//go:build linux

package ntpserve

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestChronydInterleaved runs chronyd as a measuring client (-Q, no
// CAP_SYS_TIME) with `xleave` against the server: its raw measurements
// log says which replies it took as interleaved (mode column "4I"), and
// its final verdict shows it accepted them.
func TestChronydInterleaved(t *testing.T) {
	chronyd := findTool(t, "chronyd", "/tmp/chrony/usr/sbin/chronyd")
	// Served time is the host's (offset 0): chronyd's log prints offsets
	// to four digits, so only a small offset shows microseconds.
	s := startServer(t, Config{Clock: &fakeClock{}})
	dir := t.TempDir()
	conf := filepath.Join(dir, "chrony.conf")
	// minpoll -6: a request every 1/64 s, so the test takes a second.
	body := fmt.Sprintf("server 127.0.0.1 port %d iburst xleave minpoll -6 maxpoll -6 minsamples 8\nlogdir %s\nlog rawmeasurements\n", s.port, dir)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{chronyd, "-Q", "-f", conf, "-t", "20"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	out, err := noClockCaps(t, ctx, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("chronyd -Q: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`System clock wrong by (-?[0-9.]+) seconds`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("chronyd -Q accepted no measurement:\n%s", out)
	}
	if wrong, _ := strconv.ParseFloat(string(m[1]), 64); math.Abs(wrong) > 0.001 {
		t.Errorf("chronyd: System clock wrong by %v s, want 0", wrong)
	}

	f, err := os.Open(filepath.Join(dir, "measurements.log"))
	if err != nil {
		t.Fatalf("chronyd wrote no measurements log: %v\n%s", err, out)
	}
	defer f.Close()
	var basic, xleave []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Date Time IP L St 123 567 ABCD LP RP Score Offset PeerDel PeerDisp RootDel RootDisp Refid Mode TxSrc RxSrc
		fs := strings.Fields(sc.Text())
		if len(fs) < 20 || fs[2] != "127.0.0.1" {
			continue
		}
		off, err := strconv.ParseFloat(fs[11], 64)
		if err != nil {
			continue
		}
		// chronyd's offset is the server's time minus its own clock.
		errUs := off * 1e6
		switch fs[17] {
		case "4B":
			basic = append(basic, errUs)
		case "4I":
			xleave = append(xleave, errUs)
		}
		t.Logf("%s %s: offset error %+.2f µs, tests %s %s %s", fs[1], fs[17], errUs, fs[5], fs[6], fs[7])
	}
	// chronyd -Q takes four samples; the first exchange can only be basic.
	if len(xleave) < 2 {
		t.Fatalf("chronyd took %d replies as interleaved (%d basic), want at least 2", len(xleave), len(basic))
	}
	for _, e := range xleave {
		// The kernel's transmit time, mapped through the served clock: as
		// exact as the receive time. 50 µs leaves room for a loaded CI
		// machine; typical is under 1 µs.
		if math.Abs(e) > 50 {
			t.Errorf("interleaved measurement off by %.1f µs", e)
		}
	}
	if st := s.Stats(); st.Interleaved < uint64(len(xleave)) {
		t.Errorf("Stats.Interleaved = %d, chronyd saw %d", st.Interleaved, len(xleave))
	}
}
