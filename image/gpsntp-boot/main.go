package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
)

func main() {
	daemon := flag.String("daemon", "/user/gpsntpd", "gpsntpd `binary`")
	configs := flag.String("config", "/perm/gpsntp/ntp.conf,/etc/gpsntp/ntp.conf", "comma-separated config `FILES`; the first that exists is used")
	state := flag.String("state", "/perm/gpsntp", "state `DIR` to create when its parent exists")
	console := flag.String("console", "", "send gpsntpd's stdout to this `TTY` if it opens (e.g. /dev/tty1)")
	consoleLogs := flag.Bool("console-logs", false, "send gpsntpd's stderr (logs) to -console too")
	flag.Parse()

	cfg := ""
	for _, c := range strings.Split(*configs, ",") {
		if _, err := os.Stat(c); err == nil {
			cfg = c
			break
		}
	}
	if cfg == "" {
		fmt.Fprintf(os.Stderr, "gpsntp-boot: none of %s exists\n", *configs)
		os.Exit(2)
	}
	if *state != "" {
		if parent := parentDir(*state); dirExists(parent) {
			if err := os.MkdirAll(*state, 0o755); err != nil {
				fmt.Fprintf(os.Stderr, "gpsntp-boot: %v\n", err)
			}
		}
	}
	if *console != "" {
		if f, err := os.OpenFile(*console, os.O_WRONLY|syscall.O_NOCTTY, 0); err != nil {
			fmt.Fprintf(os.Stderr, "gpsntp-boot: console: %v (status stays in the log)\n", err)
		} else {
			fds := []int{1}
			if *consoleLogs {
				fds = append(fds, 2)
			}
			for _, fd := range fds {
				if err := syscall.Dup3(int(f.Fd()), fd, 0); err != nil {
					fmt.Fprintf(os.Stderr, "gpsntp-boot: dup3 console: %v\n", err)
				}
			}
		}
	}
	args := append([]string{*daemon, "-config", cfg}, flag.Args()...)
	fmt.Fprintf(os.Stderr, "gpsntp-boot: exec %s\n", strings.Join(args, " "))
	err := syscall.Exec(*daemon, args, os.Environ())
	fmt.Fprintf(os.Stderr, "gpsntp-boot: exec %s: %v\n", *daemon, err)
	os.Exit(1)
}

func parentDir(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "/"
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
