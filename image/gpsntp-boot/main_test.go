package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestChooseConfig(t *testing.T) {
	const image = "gps /dev/ttyAMA0\npps gpio 18\n"
	const edited = "gps /dev/ttyAMA0\npps gpio 4\n"
	type layout struct {
		perm, permConf, boot, bootConf, lastGood string // "" = absent; perm "y" = /perm mounted
	}
	for _, tc := range []struct {
		name string
		l    layout
		want []string // with P = perm dir, B = boot dir, E = /etc dir
		// restored: the boot partition's file afterwards ("" absent)
		restored string
	}{
		{"image only, no /perm", layout{}, []string{"-config", "E/ntp.conf"}, ""},
		{"boot file, first boot", layout{perm: "y", boot: "y", bootConf: edited}, []string{"-config", "B/gpsntp.conf", "-config-fallback", "P/last-good.conf"}, edited},
		{"boot file, no /perm", layout{boot: "y", bootConf: edited}, []string{"-config", "B/gpsntp.conf"}, edited},
		{"after an update: no boot file, last good put back", layout{perm: "y", boot: "y", lastGood: edited}, []string{"-config", "B/gpsntp.conf", "-config-fallback", "P/last-good.conf"}, edited},
		{"after an update, boot partition read-only", layout{perm: "y", boot: "ro", lastGood: edited}, []string{"-config", "P/last-good.conf"}, ""},
		{"the image's default on the boot partition", layout{perm: "y", boot: "y", bootConf: image, lastGood: edited}, []string{"-config", "B/gpsntp.conf", "-config-fallback", "P/last-good.conf"}, image},
		{"/perm/gpsntp/ntp.conf wins", layout{perm: "y", permConf: edited, boot: "y", bootConf: edited}, []string{"-config", "P/ntp.conf"}, edited},
		{"boot partition not found", layout{perm: "y", bootConf: edited}, []string{"-config", "E/ntp.conf"}, edited},
		{"boot partition not found, last good", layout{perm: "y", lastGood: edited}, []string{"-config", "P/last-good.conf"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			P, B, E := filepath.Join(root, "perm/gpsntp"), filepath.Join(root, "boot"), filepath.Join(root, "etc")
			os.MkdirAll(E, 0o755)
			os.WriteFile(filepath.Join(E, "ntp.conf"), []byte(image), 0o644)
			if tc.l.perm != "" {
				os.MkdirAll(P, 0o755)
			}
			put := func(dir, name, body string) {
				if body != "" {
					os.MkdirAll(dir, 0o755)
					os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
				}
			}
			put(P, "ntp.conf", tc.l.permConf)
			put(P, "last-good.conf", tc.l.lastGood)
			put(B, "gpsntp.conf", tc.l.bootConf)
			os.MkdirAll(B, 0o755)
			boot := bootFS{
				mount: func() (string, error) {
					if tc.l.boot == "" {
						return "", errors.New("/perm is not mounted")
					}
					return B, nil
				},
				restore: func(dst, src string) error {
					if tc.l.boot == "ro" {
						return errors.New("read-only file system")
					}
					b, err := os.ReadFile(src)
					if err == nil {
						err = os.WriteFile(dst, b, 0o644)
					}
					return err
				},
			}
			got, notes := chooseConfig([]string{filepath.Join(P, "ntp.conf"), "boot:gpsntp.conf", filepath.Join(E, "ntp.conf")}, filepath.Join(P, "last-good.conf"), boot)
			if b, _ := os.ReadFile(filepath.Join(B, "gpsntp.conf")); string(b) != tc.restored {
				t.Errorf("boot partition's gpsntp.conf = %q, want %q", b, tc.restored)
			}
			r := strings.NewReplacer(P, "P", B, "B", E, "E")
			for i := range got {
				got[i] = r.Replace(got[i])
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("chooseConfig = %q, want %q (notes %q)", got, tc.want, notes)
			}
			t.Logf("notes: %s", r.Replace(strings.Join(notes, "; ")))
		})
	}
}

func TestMountSource(t *testing.T) {
	// From a gokrazy Pi and the amd64 VM (proc(5) mountinfo format; the
	// optional fields before " - " vary).
	mi := `22 1 179:2 / / ro,relatime - squashfs /dev/root ro
23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw,size=3916k
29 22 179:4 / /perm rw,relatime - ext4 /dev/mmcblk0p4 rw
30 22 8:4 / /perm rw,relatime shared:9 master:1 - ext4 /dev/sda4 rw
`
	if got := mountSource(mi, "/perm"); got != "/dev/sda4" {
		t.Errorf("mountSource(/perm) = %q, want the last, /dev/sda4", got)
	}
	if got := mountSource(mi, "/boot"); got != "" {
		t.Errorf("mountSource(/boot) = %q, want none", got)
	}
	for dev, want := range map[string]string{"/dev/mmcblk0p4": "/dev/mmcblk0p1", "/dev/sda4": "/dev/sda1", "/dev/nvme0n1p4": "/dev/nvme0n1p1", "/dev/vda4": "/dev/vda1"} {
		if got := siblingPartition(dev, 1); got != want {
			t.Errorf("siblingPartition(%s, 1) = %s, want %s", dev, got, want)
		}
	}
}

// The leap files gpsntp-boot offers gpsntpd: the boot partition's (when
// it mounts) and /perm's, whether or not they exist yet (gpsntpd skips
// absent ones, and the flag tells it that a newer file goes on the boot
// partition).
func TestLeapFileArgs(t *testing.T) {
	const def = "boot:leap-seconds.list,/perm/gpsntp/leap-seconds.list"
	for _, tc := range []struct {
		name   string
		list   string
		mount  error
		want   []string
		mounts int    // boot.mount calls
		note   string // "" none
	}{
		{"both", def, nil, []string{"-leapfile-extra", "B/leap-seconds.list,/perm/gpsntp/leap-seconds.list"}, 1, ""},
		{"boot partition not found", def, errors.New("/perm is not mounted"), []string{"-leapfile-extra", "/perm/gpsntp/leap-seconds.list"}, 1,
			"boot partition: /perm is not mounted; a leap-seconds.list there is not read"},
		{"only the boot partition, not found", "boot:leap-seconds.list", errors.New("mount /dev/sda1: no such device"), nil, 1,
			"boot partition: mount /dev/sda1: no such device; a leap-seconds.list there is not read"},
		{"no boot entry: not mounted", "/perm/gpsntp/leap-seconds.list", nil, []string{"-leapfile-extra", "/perm/gpsntp/leap-seconds.list"}, 0, ""},
		{"none", "", nil, nil, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mounts := 0
			boot := bootFS{mount: func() (string, error) {
				mounts++
				if tc.mount != nil {
					return "", tc.mount
				}
				return "B", nil
			}}
			got, notes := leapFileArgs(strings.Split(tc.list, ","), boot)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("leapFileArgs(%q) = %q, want %q", tc.list, got, tc.want)
			}
			if mounts != tc.mounts {
				t.Errorf("leapFileArgs(%q) mounted %d times, want %d", tc.list, mounts, tc.mounts)
			}
			if n := strings.Join(notes, "; "); n != tc.note {
				t.Errorf("leapFileArgs(%q) notes %q, want %q", tc.list, n, tc.note)
			}
		})
	}
}
