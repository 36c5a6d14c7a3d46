# gpsntp: the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
BIN     := bin
PKGS    := ./...
# Fuzz targets run briefly in `make test` (FUZZTIME=0 skips them).
FUZZTIME ?= 5s
# Pure Go, as shipped: in a cgo build Go cannot change every thread's
# capabilities, so gpsntpd could not drop root (cmd/gpsntpd/privs_linux.go).
export CGO_ENABLED ?= 0

.PHONY: run test build cross lint fuzz clean

## run: the simulated appliance (simulated receiver on a pty, simulated PPS,
## soft clock) serving NTP on 127.0.0.1:12300 and the status page on
## http://127.0.0.1:8123/, in the foreground.
run:
	$(GO) run ./cmd/gpsntpd -sim -web 127.0.0.1:8123

## test: unit, pty, real-socket, real-client and end-to-end tests, then the
## fuzzers for a few seconds each. The timeouts are generous: cmd/gpsntpd's
## end-to-end tests take 6-7 minutes on a 2-core machine, and a loaded CI
## machine may take twice that.
test: lint
	$(GO) test -count=1 -timeout 30m $(PKGS)
	$(MAKE) --no-print-directory test-vm
	@if [ "$(FUZZTIME)" != "0" ]; then $(MAKE) --no-print-directory fuzz; fi

# A bare "context deadline exceeded" with no failing input written is Go's
# fuzzing coordinator racing its own -fuzztime deadline on a loaded machine
# (golang/go#75804), not a finding: that target runs once more. A real
# finding writes its input under testdata/fuzz and fails at once.
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for t in $$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' . | sed 's/^func //' | sort -u); do \
		pkg=$$(grep -rlE "^func $$t\(" --include='*_test.go' . | head -1 | xargs dirname); \
		for try in 1 2; do \
			echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
			if $(GO) test -run=NONE -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$pkg > $$log 2>&1; then cat $$log; break; fi; \
			cat $$log; \
			if [ $$try = 1 ] && grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
				echo "fuzz $$t: the coordinator's deadline race (no input written): once more"; continue; fi; \
			exit 1; \
		done; \
	done

build:
	$(GO) build -o $(BIN)/ ./cmd/...

## cross: the binaries for the boards we ship on.
cross:
	GOOS=linux GOARCH=arm64 $(GO) build -o $(BIN)/linux-arm64/ ./cmd/...
	GOOS=linux GOARCH=arm GOARM=7 $(GO) build -o $(BIN)/linux-armv7/ ./cmd/...
	GOOS=linux GOARCH=arm GOARM=6 $(GO) build -o $(BIN)/linux-armv6/ ./cmd/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	GOOS=linux GOARCH=arm64 $(GO) vet $(PKGS)
	GOOS=linux GOARCH=arm $(GO) vet $(PKGS)

clean:
	rm -rf $(BIN)

# ---------------------------------------------------------------------------
# Flashing onto a board (docs/install.md). Tools are pinned in their own
# modules (image/tools: gok, run by image/build.sh; packaging/tools: nfpm) so
# the daemon's go.mod stays small.

DIST    ?= dist
VERSION ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' 2>/dev/null) && echo "$${v\#v}" | tr - + || \
	{ d=$$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null) && echo "0.0.0+git$$d.$$(git rev-parse --short HEAD)"; } || echo 0.0.0)
NFPM    := $(GO) tool -modfile=$(CURDIR)/packaging/tools/go.mod nfpm
RELEASE_LDFLAGS := -s -w

.PHONY: deb image test-vm

## deb: $(DIST)/gpsntp_<version>_arm64.deb and _armhf.deb for Raspberry Pi OS.
deb:
	rm -rf $(BIN)/deb && mkdir -p $(DIST)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags='$(RELEASE_LDFLAGS)' -o $(BIN)/deb/arm64/ ./cmd/...
	GOOS=linux GOARCH=arm GOARM=6 CGO_ENABLED=0 $(GO) build -trimpath -ldflags='$(RELEASE_LDFLAGS)' -o $(BIN)/deb/armhf/ ./cmd/...
	@set -e; for a in arm64 armhf; do \
		rm -f $(DIST)/gpsntp_*_$$a.deb; \
		ARCH=$$a VERSION='$(VERSION)' BINDIR=$(BIN)/deb/$$a $(NFPM) package -f packaging/nfpm.yaml -p deb -t $(DIST)/; \
	done

IMAGE ?= gpsntp-rpi-arm64.img.xz

## image: $(IMAGE), the gokrazy SD card image for Raspberry Pi 3/4/5/Zero 2 W.
## Flash it with `xzcat $(IMAGE) | sudo dd of=/dev/sdX bs=4M conv=fsync`.
image:
	GO='$(GO)' image/build.sh gpsntp $(IMAGE:.xz=)
	xz -T0 -6 -f $(IMAGE:.xz=)
	@ls -l $(IMAGE)

## test-vm: the tests that need a real kernel, under qemu with software
## emulation (vmtest/doc.go). TestVM boots the appliance (amd64 gokrazy
## build) in a private network namespace, feeds it simulated NMEA on ttyS1
## and checks with an NTP client that it serves stratum 1, refid GPS, within
## 50 ms of the simulated GPS time, steering the guest's own clock.
## TestVMGPIO boots the image's Raspberry Pi kernel on the arm64 virt board
## and drives the PPS GPIO line from the host through the PPS driver and
## gpsntpd; TestVMKernelPPS does the same through pps-gpio and /dev/pps0 on
## Debian's arm64 kernel (a device-tree node on the same line).
test-vm:
	GPSNTP_VMTEST=1 $(GO) test -count=1 -timeout 30m -run '^TestVM' -v ./vmtest/
