package config

import "fmt"

// Web is the `web ADDR:PORT [showposition]` directive: the LAN status
// page (package web). Off when Addr is "".
type Web struct {
	Addr string // ADDR:PORT to serve on ("": no page)
	// ShowPosition shows the receiver's position as reported; without it
	// the page rounds it to about 1 km (a time server need not publish
	// where it stands).
	ShowPosition bool
}

// parseWeb reads `web ADDR:PORT [showposition]` and `web off`.
func parseWeb(args []string) (Web, error) {
	want := "expected `web ADDR:PORT [showposition]` (e.g. `web :8123`) or `web off`"
	if len(args) == 1 && args[0] == "off" {
		return Web{}, nil
	}
	if len(args) == 0 || len(args) > 2 {
		return Web{}, fmt.Errorf("%s", want)
	}
	if err := checkAddrPort(args[0]); err != nil {
		return Web{}, fmt.Errorf("%s (%s), got %q: %v", want, addrPortRule, args[0], err)
	}
	w := Web{Addr: args[0]}
	if len(args) == 2 {
		if args[1] != "showposition" {
			return Web{}, fmt.Errorf("unknown option %q: %s", args[1], want)
		}
		w.ShowPosition = true
	}
	return w, nil
}
