#!/bin/sh
# image/arm64-memory.sh: the daemon's memory on arm64, measured by an arm64
# Linux kernel rather than guessed from qemu-user: builds the gokrazy
# instance image/gpsntp-arm64vm (gpsntpd -sim with metrics), boots it under
# qemu-system-aarch64 -M virt (software emulation) in a private network
# namespace, waits until it has been synchronised for a while, and prints
# the process's RSS and the Go runtime's figures from its own /metrics.
# Needs root (unshare --net), qemu-system-arm, qemu-efi-aarch64, curl.
# About two minutes. Not part of `make test`: a measurement (BENCHMARKS.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/build.sh" gpsntp-arm64vm "$work/arm64.img" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
cp /usr/share/AAVMF/AAVMF_VARS.fd "$work/vars.fd"
cat >"$work/run.sh" <<EOS
#!/bin/sh
ip link set lo up
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 1 -m 512 -accel tcg,thread=single \\
  -display none -monitor none -no-reboot \\
  -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd \\
  -drive if=pflash,format=raw,unit=1,file=$work/vars.fd \\
  -drive file=$work/arm64.img,format=raw,if=virtio -snapshot \\
  -device virtio-net-pci,netdev=n0 \\
  -netdev user,id=n0,hostfwd=tcp:127.0.0.1:9100-:9100 \\
  -serial file:$work/console.log -rtc base=utc &
q=\$!
up=
for i in \$(seq 1 60); do
  sleep 5
  if curl -s --max-time 3 http://127.0.0.1:9100/metrics | grep -q '^gpsntp_state{state="pps"} 1'; then up=\$((i * 5)); break; fi
done
[ -n "\$up" ] || { echo "not synchronised within 300 s; console tail:"; tail -20 $work/console.log; kill \$q; exit 1; }
sleep 60
curl -s --max-time 5 http://127.0.0.1:9100/metrics >$work/metrics.txt
kill \$q
echo "synchronised (state pps) by \$up s after boot; metrics read 60 s later"
EOS
chmod +x "$work/run.sh"
timeout 600 unshare --net "$work/run.sh"
grep -m1 'Linux version' "$work/console.log" | sed 's/^\[[^]]*\] /guest: /' | cut -c1-60
grep -E '^(process_resident_memory_bytes|go_memstats_sys_bytes|go_memstats_heap_inuse_bytes|go_goroutines) ' "$work/metrics.txt"
