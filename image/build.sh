#!/bin/sh
# image/build.sh INSTANCE OUT.img: build the gokrazy instance image/INSTANCE
# into the raw disk image OUT.img (boot FAT, two root squashfs, /perm), then
# format /perm as ext4 (gok leaves it blank when writing to a file), and put
# the instance's ntp.conf on the boot partition as gpsntp.conf, the file
# users edit from any OS (image/gpsntp-boot).
# Run by `make image` and `make test-vm`; GO names the go command.
set -eu
inst=$1
out=$2
bytes=${IMAGE_BYTES:-1363148800} # 1300 MiB: boot 100 MiB, 2×500 MiB root, ~190 MiB /perm
GO=${GO:-go}
here=$(cd "$(dirname "$0")" && pwd)
case $out in /*) ;; *) out=$(pwd)/$out ;; esac

for tool in mkfs.ext4 partx mcopy; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/sbin:/usr/sbin
	command -v "$tool" >/dev/null 2>&1 || { echo "build.sh: $tool not found (apt-get install e2fsprogs util-linux mtools)" >&2; exit 1; }
done

rm -f "$out"
"$GO" tool -modfile="$here/tools/go.mod" gok --parent_dir "$here" -i "$inst" \
	overwrite --full "$out" --target_storage_bytes "$bytes"

# /perm is the fourth partition (MBR on the Pi, GPT on amd64).
set -- $(partx -g -o START,SECTORS -n 4 "$out")
mkfs.ext4 -q -F -L perm -E offset=$(($1 * 512)) "$out" "$(($2 / 2))k"

# The boot partition is the first. gok sizes its file system to its
# contents (0 bytes free): fatgrow lets it use the free clusters its FAT
# already addresses. MTOOLS_SKIP_CHECK: gok's FAT geometry is not a
# floppy's, which mtools would otherwise refuse.
if [ -f "$here/$inst/ntp.conf" ]; then
	set -- $(partx -g -o START,SECTORS -n 1 "$out")
	(cd "$here/.." && "$GO" run ./image/fatgrow "$out" "$1" "$2")
	MTOOLS_SKIP_CHECK=1 mcopy -o -i "$out@@$(($1 * 512))" "$here/$inst/ntp.conf" ::gpsntp.conf
fi
