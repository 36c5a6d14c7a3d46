package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
)

// viewCommand is `gpsntpctl VIEW [-json] [-socket PATH]`: the daemon's
// snapshot over its control socket, rendered as the console renders it, or
// as JSON for scripts (status: the whole snapshot; the other views: their
// part of it).
func viewCommand(view string) func(args []string, stdout, stderr io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		fs := flag.NewFlagSet(view, flag.ContinueOnError)
		fs.SetOutput(stderr)
		asJSON := fs.Bool("json", false, "print JSON instead of the table")
		socket := fs.String("socket", "", "gpsntpd's control socket `PATH` (default "+ctl.DefaultSocket+", or the -sim one if that is absent)")
		timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "gpsntpctl %s: unexpected arguments %q\n", view, fs.Args())
			return 2
		}
		path := *socket
		if path == "" {
			path = defaultSocket()
		}
		s, err := ctl.Fetch(path, *timeout)
		if err != nil {
			fmt.Fprintf(stderr, "gpsntpctl %s: %v\n", view, err)
			if hint := accessHint(view, path, err); hint != "" {
				fmt.Fprintf(stderr, "gpsntpctl %s: %s\n", view, hint)
			}
			return 1
		}
		if *asJSON {
			var v any = s
			switch view {
			case "sats":
				v = s.Satellites
			case "sources":
				v = s.Sources
			case "clients":
				v = s.Server
			case "log":
				v = s.Events
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				fmt.Fprintf(stderr, "gpsntpctl %s: %v\n", view, err)
				return 1
			}
			return 0
		}
		if err := ctl.Render(stdout, view, s); err != nil {
			fmt.Fprintf(stderr, "gpsntpctl %s: %v\n", view, err)
			return 1
		}
		return 0
	}
}

// defaultSocket is the appliance's socket if it exists, else a simulated
// daemon's (gpsntpd -sim run by this user).
func defaultSocket() string {
	if _, err := os.Stat(ctl.DefaultSocket); err == nil {
		return ctl.DefaultSocket
	}
	if p := ctl.SimSocket(); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ctl.DefaultSocket
}
