package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/gpsntp/gpsntp/internal/fatgrow"
)

func main() {
	daemon := flag.String("daemon", "/user/gpsntpd", "gpsntpd `binary`")
	configs := flag.String("config", "/perm/gpsntp/ntp.conf,boot:gpsntp.conf,/etc/gpsntp/ntp.conf",
		"comma-separated config `FILES`, the first that exists is used; boot:NAME is NAME on the FAT boot partition")
	lastGood := flag.String("last-good", "/perm/gpsntp/last-good.conf", "where gpsntpd keeps the last good boot-partition configuration (`FILE`)")
	bootMount := flag.String("boot-mount", "/tmp/gpsntp-boot", "where to mount the boot partition read-only (`DIR`)")
	state := flag.String("state", "/perm/gpsntp", "state `DIR` to create when its parent exists")
	console := flag.String("console", "", "send gpsntpd's stdout to this `TTY` if it opens (e.g. /dev/tty1)")
	consoleLogs := flag.Bool("console-logs", false, "send gpsntpd's stderr (logs) to -console too")
	leapFiles := flag.String("leapfile", "boot:leap-seconds.list,/perm/gpsntp/leap-seconds.list",
		"comma-separated leap-seconds.list `FILES` passed to gpsntpd -leapfile-extra: one that expires later than the image's is used; boot:NAME is NAME on the FAT boot partition")
	flag.Parse()

	if *state != "" {
		if parent := parentDir(*state); dirExists(parent) {
			if err := os.MkdirAll(*state, 0o755); err != nil {
				fmt.Fprintf(os.Stderr, "gpsntp-boot: %v\n", err)
			}
		}
	}
	// The console first: what is chosen below, and why, shows there too
	// (with -console-logs).
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
	boot := bootFS{
		// Once: the configuration and the leap file both look there.
		mount:   sync.OnceValues(func() (string, error) { return mountBoot(*bootMount) }),
		restore: func(dst, src string) error { return restoreFile(*bootMount, dst, src) },
	}
	cfgArgs, notes := chooseConfig(strings.Split(*configs, ","), *lastGood, boot)
	leapArgs, leapNotes := leapFileArgs(strings.Split(*leapFiles, ","), boot)
	notes = append(notes, leapNotes...)
	for _, n := range notes {
		fmt.Fprintf(os.Stderr, "gpsntp-boot: %s\n", n)
	}
	if cfgArgs == nil {
		fmt.Fprintf(os.Stderr, "gpsntp-boot: none of %s exists\n", *configs)
		os.Exit(2)
	}
	args := append(append(append([]string{*daemon}, cfgArgs...), leapArgs...), flag.Args()...)
	fmt.Fprintf(os.Stderr, "gpsntp-boot: exec %s\n", strings.Join(args, " "))
	err := syscall.Exec(*daemon, args, os.Environ())
	fmt.Fprintf(os.Stderr, "gpsntp-boot: exec %s: %v\n", *daemon, err)
	os.Exit(1)
}

// bootFS is the boot partition as chooseConfig needs it.
type bootFS struct {
	// mount makes it readable and returns its directory.
	mount func() (string, error)
	// restore writes src's content to dst on it (it is mounted).
	restore func(dst, src string) error
}

// chooseConfig returns gpsntpd's configuration flags: the first of list
// that exists; "boot:NAME" is NAME on the boot partition. A boot-partition
// file runs with -config-fallback lastGood: gpsntpd checks it, runs the
// last good one if it is broken, and keeps it as the last good one if not.
// An update (make update: gok's boot partition has no NAME) leaves no NAME
// but the last good copy on /perm: it is put back on the boot partition,
// so the user edits what runs. notes say what was chosen and why.
func chooseConfig(list []string, lastGood string, boot bootFS) (args []string, notes []string) {
	for _, c := range list {
		name, onBoot := strings.CutPrefix(c, "boot:")
		if !onBoot {
			if _, err := os.Stat(c); err == nil {
				return []string{"-config", c}, append(notes, "configuration "+c)
			}
			continue
		}
		dir, err := boot.mount()
		if err != nil {
			notes = append(notes, fmt.Sprintf("boot partition: %v; its %s is not read", err, name))
			if fileExists(lastGood) {
				return []string{"-config", lastGood}, append(notes, "running the last good configuration "+lastGood)
			}
			continue
		}
		p := filepath.Join(dir, name)
		if !fileExists(p) {
			if !fileExists(lastGood) {
				continue
			}
			if err := boot.restore(p, lastGood); err != nil {
				return []string{"-config", lastGood}, append(notes, fmt.Sprintf(
					"no %s on the boot partition (an update removes it), and putting the last good one back failed: %v; running %s", name, err, lastGood))
			}
			notes = append(notes, fmt.Sprintf("no %s on the boot partition (an update removes it): put the last good one (%s) back", name, lastGood))
		}
		if !dirExists(filepath.Dir(lastGood)) {
			// No /perm: nowhere to keep a last good copy.
			return []string{"-config", p}, append(notes, "configuration "+p+" (no "+filepath.Dir(lastGood)+" to keep a last good copy in)")
		}
		return []string{"-config", p, "-config-fallback", lastGood}, append(notes, "configuration "+p+", last good copy "+lastGood)
	}
	return nil, notes
}

// leapFileArgs returns gpsntpd's -leapfile-extra flag for list: leap
// files that replace the image's when they expire later, so that a user
// who cannot rebuild the image can still update it (gpsntpd chooses, and
// skips those absent). "boot:NAME" is NAME on the boot partition, left
// out (with a note) when that cannot be mounted.
func leapFileArgs(list []string, boot bootFS) (args []string, notes []string) {
	var paths []string
	for _, l := range list {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		name, onBoot := strings.CutPrefix(l, "boot:")
		if !onBoot {
			paths = append(paths, l)
			continue
		}
		dir, err := boot.mount()
		if err != nil {
			notes = append(notes, fmt.Sprintf("boot partition: %v; a %s there is not read", err, name))
			continue
		}
		paths = append(paths, filepath.Join(dir, name))
	}
	if len(paths) == 0 {
		return nil, notes
	}
	return []string{"-leapfile-extra", strings.Join(paths, ",")}, notes
}

// restoreFile copies src to dst on the read-only FAT mount at dir:
// remounted writable for the copy (a temporary file, fsync, rename) and
// read-only again.
func restoreFile(dir, dst, src string) (err error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	const flags = syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remount %s writable: %w", dir, err)
	}
	defer func() {
		if rerr := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY|flags, ""); err == nil && rerr != nil {
			err = fmt.Errorf("remount %s read-only: %w", dir, rerr)
		}
	}()
	tmp := dst + ".new"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	syscall.Sync()
	return nil
}

// mountBoot mounts the FAT boot partition read-only at dir and returns dir.
// It is partition 1 of the disk whose partition 4 is /perm (gokrazy's
// layout, on an SD card, USB or NVMe disk, and in the VM).
func mountBoot(dir string) (string, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	if src := mountSource(string(mi), dir); src != "" {
		return dir, nil // mounted already (gpsntpd restarted by gokrazy)
	}
	perm := mountSource(string(mi), "/perm")
	if perm == "" {
		return "", fmt.Errorf("/perm is not mounted, so the boot disk is unknown")
	}
	dev := siblingPartition(perm, 1)
	// An update writes a boot file system sized to its contents: let it
	// use its free clusters, so gpsntp.conf can be put back (and edited).
	if added, err := growFAT(dev); err != nil {
		fmt.Fprintf(os.Stderr, "gpsntp-boot: %s: %v (no room may be left for gpsntp.conf)\n", dev, err)
	} else if added > 0 {
		fmt.Fprintf(os.Stderr, "gpsntp-boot: %s: boot file system grown by %d bytes into its partition\n", dev, added)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// iocharset=ascii: the gokrazy kernels build in nls_ascii, not every
	// kernel's default (iso8859-1); the file names we read are ASCII.
	const flags = syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC
	if err := syscall.Mount(dev, dir, "vfat", flags, "iocharset=ascii"); err != nil {
		if err2 := syscall.Mount(dev, dir, "vfat", flags, ""); err2 != nil {
			return "", fmt.Errorf("mount %s (vfat, read-only) on %s: %v", dev, dir, err)
		}
	}
	return dir, nil
}

// growFAT runs fatgrow on the (unmounted) boot partition dev, whose size
// sysfs gives in 512-byte sectors.
func growFAT(dev string) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/sys/class/block", filepath.Base(dev), "size"))
	if err != nil {
		return 0, err
	}
	sectors, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("partition size %q: %v", b, err)
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	added, err := fatgrow.Grow(f, 0, sectors)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return added, err
}

// mountSource returns the source device of the mount at mountPoint in a
// /proc/self/mountinfo text (proc(5): field 5 is the mount point, the
// source follows the " - " separator and the file system type), or "".
func mountSource(mountinfo, mountPoint string) string {
	src := ""
	for _, l := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 2 || f[4] != mountPoint {
			continue
		}
		src = g[1] // the last mount on top wins
	}
	return src
}

// siblingPartition returns partition n of the disk that holds partition
// dev: /dev/mmcblk0p4 → /dev/mmcblk0p1, /dev/sda4 → /dev/sda1,
// /dev/nvme0n1p4 → /dev/nvme0n1p1.
func siblingPartition(dev string, n int) string {
	return strings.TrimRight(dev, "0123456789") + fmt.Sprint(n)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
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
