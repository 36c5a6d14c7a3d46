package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/gpsntp/gpsntp/config"
	"github.com/gpsntp/gpsntp/internal/mdns"
)

// The finder shows the addresses DHCP gives, logs each change once, and
// keeps the last list while the interfaces cannot be read. mDNS stays off
// here: no packet leaves this machine.
func TestFinderFollowsAddresses(t *testing.T) {
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	eth := func(prefixes ...string) []mdns.Interface {
		lo := mdns.Interface{Index: 1, Name: "lo", Up: true, Loopback: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}}
		in := mdns.Interface{Index: 2, Name: "eth0", Up: true, Multicast: true}
		for _, p := range prefixes {
			in.Prefixes = append(in.Prefixes, netip.MustParsePrefix(p))
		}
		return []mdns.Interface{lo, in}
	}
	steps := []struct {
		ifs     []mdns.Interface
		err     error
		want    string
		wantLog string // "" : nothing new logged
	}{
		{eth("fe80::1/64"), nil, "fe80::1", `msg="network addresses" addresses=fe80::1 ntp=[fe80::1]:123`},
		{eth("fe80::1/64", "192.168.1.23/24", "fd00::23/64"), nil, "192.168.1.23,fd00::23", `msg="network addresses" addresses="192.168.1.23, fd00::23" ntp=192.168.1.23:123`},
		{eth("fe80::1/64", "192.168.1.23/24", "fd00::23/64"), nil, "192.168.1.23,fd00::23", ""},
		{nil, fmt.Errorf("netlink: boom"), "192.168.1.23,fd00::23", `msg="cannot read the network addresses" err="netlink: boom"`},
		{nil, fmt.Errorf("netlink: boom"), "192.168.1.23,fd00::23", ""},
		{eth("192.168.1.40/24"), nil, "192.168.1.40", `addresses=192.168.1.40`},
		{eth(), nil, "127.0.0.1", `addresses=127.0.0.1`},
	}
	i := 0
	f := openFinder(config.Config{}, []string{"[::]:123"}, log)
	f.read = func() ([]mdns.Interface, error) { return steps[i].ifs, steps[i].err }
	if f.resp != nil || f.name != "" {
		t.Fatal("openFinder without `mdns on` opened a responder")
	}
	for ; i < len(steps); i++ {
		logBuf.Reset()
		f.refresh()
		addrs, name := f.status()
		if got := strings.Join(addrs, ","); got != steps[i].want || name != "" {
			t.Errorf("step %d: status() = %q, %q, want %q, no mDNS name", i, got, name, steps[i].want)
		}
		switch l := logBuf.String(); {
		case steps[i].wantLog == "" && l != "":
			t.Errorf("step %d: logged %q, want nothing (no change)", i, l)
		case !strings.Contains(l, steps[i].wantLog):
			t.Errorf("step %d: logged %q, want %q", i, l, steps[i].wantLog)
		}
	}
	if got := f.short(); got != "127.0.0.1" {
		t.Errorf("short() = %q", got)
	}
	if tasks := f.tasks(); len(tasks) != 1 || tasks[0].name != "addresses" {
		t.Errorf("tasks() = %v, want only the address watch without mDNS", tasks)
	}
}

func TestMDNSOffReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("mdns: listen udp4 port 5353: %w", syscall.EADDRINUSE), "avahi-daemon"},
		{fmt.Errorf("mdns: listen udp4 port 5353: %w", syscall.EACCES), "not allowed"},
		{fmt.Errorf("other"), "cannot open UDP port 5353"},
	} {
		if got := mdnsOffReason(c.err); !strings.Contains(got, c.want) {
			t.Errorf("mdnsOffReason(%v) = %q, want containing %q", c.err, got, c.want)
		}
	}
}
