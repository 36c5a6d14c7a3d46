package config

import (
	"strings"
	"testing"
)

// `server`/`pool` lines with every option, and the quorum and fallback
// directives, as the upstream client reads them.
func TestUpstreamLines(t *testing.T) {
	for _, c := range []struct {
		src  string
		want Upstream
	}{
		{"server 192.0.2.1", Upstream{Host: "192.0.2.1", Port: 123, MinPoll: 6, MaxPoll: 10, Pos: "x.conf:1"}},
		{"server ntp.example port 12300 iburst prefer noselect true minpoll 7 maxpoll 12",
			Upstream{Host: "ntp.example", Port: 12300, IBurst: true, Prefer: true, NoSelect: true, True: true, MinPoll: 7, MaxPoll: 12, Pos: "x.conf:1"}},
		{"pool pool.example iburst", Upstream{Pool: true, Host: "pool.example", Port: 123, IBurst: true, MinPoll: 6, MaxPoll: 10, MaxSources: 4, Pos: "x.conf:1"}},
		{"pool pool.example maxsources 7 port 1123", Upstream{Pool: true, Host: "pool.example", Port: 1123, MinPoll: 6, MaxPoll: 10, MaxSources: 7, Pos: "x.conf:1"}},
		{"server a.example minpoll 6 maxpoll 6", Upstream{Host: "a.example", Port: 123, MinPoll: 6, MaxPoll: 6, Pos: "x.conf:1"}},
		{"server a.example maxpoll 17", Upstream{Host: "a.example", Port: 123, MinPoll: 6, MaxPoll: 17, Pos: "x.conf:1"}},
	} {
		cfg, err := Parse("x.conf", strings.NewReader(c.src))
		if err != nil {
			t.Errorf("Parse(%q) = %v", c.src, err)
			continue
		}
		if len(cfg.Upstreams) != 1 || cfg.Upstreams[0] != c.want {
			t.Errorf("Parse(%q).Upstreams = %+v, want %+v", c.src, cfg.Upstreams, c.want)
		}
	}
}

func TestUpstreamErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"server a.example minpoll 4", "x.conf:1: server: expected `minpoll N` with N 6–17 (log2 seconds: 64 s to 36 h; gpsntpd never polls an upstream faster than every 64 s), got 4"},
		{"server a.example maxpoll 18", "x.conf:1: server: expected `maxpoll N` with N 6–17"},
		{"server a.example minpoll 10 maxpoll 8", "x.conf:1: server: minpoll 10 is above maxpoll 8"},
		{"server a.example minpoll", `x.conf:1: server: expected a number after "minpoll"`},
		{"server a.example port ntp", `x.conf:1: server: expected a number after "port", got "ntp"`},
		{"server a.example port 0", "x.conf:1: server: expected `port N` with N 1-65535 (chrony's spelling"},
		{"server a.example maxsources 3", "x.conf:1: server: `maxsources` is for `pool` lines"},
		{"pool p.example maxsources 0", "x.conf:1: pool: expected `maxsources N` with N 1–16"},
		{"server a.example burst", "x.conf:1: server: `burst` (ntpd: 8 packets at every poll) is not supported"},
		{"pool p.example xleave", "x.conf:1: pool: unknown option \"xleave\" (expected `pool HOST [port N] [iburst] [maxsources N]"},
		{"minsane", "x.conf:1: minsane: expected `minsane N` with N 1–16 (ntpd's `tos minsane N`)"},
		{"minsane 0", "x.conf:1: minsane: expected `minsane N`"},
		{"minsane 2 3", "x.conf:1: minsane: expected `minsane N`"},
		{"minsane 2\nminsane 3", "x.conf:2: minsane: given twice (first at x.conf:1)"},
		{"fallback maybe", "x.conf:1: fallback: expected `fallback on` or `fallback off`"},
		{"fallback on\nfallback off", "x.conf:2: fallback: given twice"},
	} {
		_, err := Parse("x.conf", strings.NewReader(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error = %v, want containing %q", c.src, err, c.want)
		}
	}
}

func TestUpstreamDefaults(t *testing.T) {
	cfg, err := Parse("x.conf", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinSane != 2 || !cfg.Fallback {
		t.Errorf("defaults: minsane %d fallback %v, want 2 on", cfg.MinSane, cfg.Fallback)
	}
}
