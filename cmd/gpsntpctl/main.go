package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: run gets the arguments after its name and
// returns the process exit status.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"decode":  {"decode NMEA captures offline with the daemon's decoder", runDecode},
	"status":  {"the daemon's status summary [-json] [-socket PATH]", viewCommand("status")},
	"sats":    {"satellites in view: PRN, elevation, azimuth, SNR, used", viewCommand("sats")},
	"sources": {"ntpq -p style billboard of PPS, GPS and the upstream servers", viewCommand("sources")},
	"clients": {"NTP server counters by outcome and rates", viewCommand("clients")},
	"log":     {"recent events of the daemon", viewCommand("log")},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gpsntpctl COMMAND [ARGS]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "gpsntpctl: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
