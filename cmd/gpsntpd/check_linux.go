package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gpsntp/gpsntp/config"
	"golang.org/x/sys/unix"
)

// configuredUser resolves the `user` directive as dropPrivileges will
// (lookupTarget). nil without one: the daemon stays who starts it (the
// service's User= under systemd), which this check then is too. A root
// start without `user` drops to gpsntp if that user exists; that case is
// not checked, since -sim and a non-root start keep the starting user.
func configuredUser(cfg config.Config) (*identity, error) {
	if cfg.User == "" {
		return nil, nil
	}
	t, _, err := lookupTarget(cfg.User)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return nil, fmt.Errorf("user %s: no such user on this machine: create it (useradd --system %s) or give a numeric uid", cfg.User, cfg.User)
		}
		return nil, err
	}
	if t.uid == os.Geteuid() || t.uid == 0 {
		// Already that user (a SIGHUP reload after the drop), or staying
		// root: ask the kernel, which also knows ACLs and read-only mounts.
		return nil, nil
	}
	return &identity{name: t.name, uid: t.uid, gid: t.gid, groups: t.groups}, nil
}

// mayCreateIn says why id (nil: this process) could not create a file in
// dir, or nil. This process asks access(2). Another user is checked by
// the permission bits of dir (write and search) and of every directory
// above it (search), as the kernel would once the daemon runs as that user
// without CAP_DAC_OVERRIDE; ACLs are not read.
func mayCreateIn(dir string, id *identity) error {
	if id == nil {
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			return fmt.Errorf("access(W_OK|X_OK): %w", err)
		}
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	// Every ancestor needs search permission, dir itself write as well.
	path := "/"
	parts := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	for i := -1; i < len(parts); i++ {
		if i >= 0 {
			if parts[i] == "" {
				continue
			}
			path = filepath.Join(path, parts[i])
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			return fmt.Errorf("stat %s: %w", path, err)
		}
		o := ownership{uid: int(st.Uid), gid: int(st.Gid), perm: os.FileMode(st.Mode & 0o777)}
		want, need := os.FileMode(1), "enter (search)"
		if i == len(parts)-1 {
			want, need = 3, "write to"
		}
		if !permits(o, *id, want) {
			return fmt.Errorf("it may not %s %s (owner %d:%d, mode %v)", need, path, o.uid, o.gid, o.perm)
		}
	}
	if err := unix.Access(abs, unix.W_OK); errors.Is(err, unix.EROFS) {
		return fmt.Errorf("%s is on a read-only file system", abs)
	}
	return nil
}
