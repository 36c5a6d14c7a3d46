package main

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpsntp/gpsntp/internal/ctl"
)

// unprivileged is the uid and gid the refused client runs as (nobody,
// nogroup on Debian), with no supplementary groups unless a case adds one.
const unprivileged = "65534"

// ownerGroup is a group the unprivileged client is not in, to own the
// socket as gpsntp owns it in the .deb. The machine's /etc/group is only
// read: dialout is on every Debian.
func ownerGroup(t *testing.T) *user.Group {
	t.Helper()
	for _, name := range []string{"dialout", "adm", "staff"} {
		if g, err := user.LookupGroup(name); err == nil && g.Gid != "0" && g.Gid != unprivileged {
			return g
		}
	}
	t.Skip("no dialout, adm or staff group to own the test socket")
	return nil
}

// A normal user refused by the 0660 control socket is told to use sudo or
// to join the group that owns it, by name, and to log in again; a member
// of that group gets the status. Before, the error ended in a bare
// "connect: permission denied". Runs the real binary under setpriv as
// uid 65534, against a socket made by ctl.ListenGroup as the daemon makes
// it.
func TestRefusedSocketSaysWhatToDo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test gives the socket to a group and runs the client as another user (setpriv)")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed (util-linux): cannot run the client as another user")
	}
	g := ownerGroup(t)
	gid, _ := strconv.Atoi(g.Gid)

	// Everything the client must reach is searchable by others: the test's
	// temporary directories are 0700.
	base := t.TempDir()
	for p := base; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(base, "gpsntpctl")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	serve := func(path string) {
		ln, err := ctl.ListenGroup(path, gid)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		snap := &ctl.Snapshot{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), State: "pps"}
		go func() { done <- ctl.Serve(ctx, ln, func() *ctl.Snapshot { return snap }) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	// open: the directory exists (systemd's RuntimeDirectory, 0755), the
	// socket is 0660 in the group. closed: ListenGroup made the directory
	// 0750 in the group, so not even the socket's inode can be seen.
	open := filepath.Join(base, "open", "ctl.sock")
	if err := os.Mkdir(filepath.Dir(open), 0o755); err != nil {
		t.Fatal(err)
	}
	serve(open)
	closed := filepath.Join(base, "closed", "ctl.sock")
	serve(closed)

	for _, tc := range []struct {
		name, path string
		groups     string // setpriv's supplementary groups
		wantCode   int
		want       []string
	}{
		{"socket", open, "--clear-groups", 1, []string{
			"connect: permission denied",
			"the control socket " + open + " is for root and group " + g.Name,
			"run `sudo gpsntpctl status`",
			"`sudo adduser nobody " + g.Name + "` and log out and in again",
		}},
		{"directory", closed, "--clear-groups", 1, []string{
			"connect: permission denied",
			"the directory " + filepath.Dir(closed) + " of the control socket is for root and group " + g.Name,
			"run `sudo gpsntpctl status`",
			"log out and in again",
		}},
		{"member", open, "--groups=" + g.Gid, 0, []string{"state   PPS"}},
		{"member, closed directory", closed, "--groups=" + g.Gid, 0, []string{"state   PPS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("setpriv", "--reuid="+unprivileged, "--regid="+unprivileged, tc.groups,
				bin, "status", "-socket", tc.path)
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			t.Logf("gpsntpctl status as uid %s (%s):\n%s", unprivileged, tc.groups, out)
			if code != tc.wantCode {
				t.Errorf("gpsntpctl status as uid %s (%s): exit %d, want %d; output:\n%s", unprivileged, tc.groups, code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("gpsntpctl status as uid %s (%s) said:\n%s\nwant it to contain %q", unprivileged, tc.groups, out, w)
				}
			}
			if tc.wantCode != 0 && strings.Count(string(out), "\n") != 2 {
				t.Errorf("gpsntpctl status said:\n%s\nwant two lines: the error, then what to do", out)
			}
		})
	}
}
