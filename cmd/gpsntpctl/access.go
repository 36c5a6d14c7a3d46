package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// accessHint says what to do when the control socket at path refused us
// (err is EACCES or EPERM from the connect): "" for any other error.
//
// The socket is 0660 and its group is the daemon's (gpsntp in the .deb:
// systemd starts gpsntpd as User=gpsntp in RuntimeDirectory /run/gpsntp),
// so an operator either uses sudo or joins that group. A group joined
// with adduser applies from the next login only; someone already listed
// in /etc/group whose session predates it is told exactly that. The group
// is read from the socket, or from its directory when that is what shuts
// us out (ctl.ListenGroup makes a missing directory 0750), so the hint
// names the group that really owns the socket on this machine.
func accessHint(view, path string, err error) string {
	if !errors.Is(err, fs.ErrPermission) {
		return ""
	}
	gid, what, ok := blockingGroup(path)
	if !ok {
		return fmt.Sprintf("%s is not open to you: run `sudo gpsntpctl %s`", path, view)
	}
	group := "gid " + strconv.Itoa(gid)
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		group = g.Name
	}
	if gid == 0 {
		return fmt.Sprintf("%s belongs to root only (group %s): run `sudo gpsntpctl %s`", what, group, view)
	}
	name := "$USER"
	u, uerr := user.Current()
	if uerr == nil {
		name = u.Username
	}
	switch {
	case sessionHasGroup(gid):
		// In the group and still refused: the mode shuts the group out.
		return fmt.Sprintf("%s (group %s) does not let its group in: run `sudo gpsntpctl %s`", what, group, view)
	case uerr == nil && listedIn(u, gid):
		return fmt.Sprintf("%s is for root and group %s. You (%s) are in group %s, but this login session "+
			"started before you joined it: log out and in again (or run `newgrp %s`), or run `sudo gpsntpctl %s`",
			what, group, name, group, group, view)
	}
	return fmt.Sprintf("%s is for root and group %s: run `sudo gpsntpctl %s`, or join the group with "+
		"`sudo adduser %s %s` and log out and in again (a new group applies from the next login)",
		what, group, view, name, group)
}

// blockingGroup is the group that decides our access to the socket at
// path, and what to call it: the directory's when we cannot even look
// into it, else the socket's own.
func blockingGroup(path string) (gid int, what string, ok bool) {
	st, err := os.Stat(path)
	if err == nil {
		return gidOf(st), "the control socket " + path, true
	}
	dir := filepath.Dir(path)
	if errors.Is(err, fs.ErrPermission) {
		if dst, derr := os.Stat(dir); derr == nil {
			return gidOf(dst), "the directory " + dir + " of the control socket", true
		}
	}
	return 0, "", false
}

func gidOf(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Gid)
	}
	return -1
}

// sessionHasGroup: this process has gid as its group or a supplementary one.
func sessionHasGroup(gid int) bool {
	if os.Getegid() == gid {
		return true
	}
	gs, _ := os.Getgroups()
	return slices.Contains(gs, gid)
}

// listedIn: the account database (/etc/group) lists u in gid, whether or
// not this session has it yet.
func listedIn(u *user.User, gid int) bool {
	ids, err := u.GroupIds()
	if err != nil {
		return false
	}
	return slices.Contains(ids, strconv.Itoa(gid))
}
