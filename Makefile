# gpsntp: the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
BIN     := bin
PKGS    := ./...
# Fuzz targets run briefly in `make test` (FUZZTIME=0 skips them).
FUZZTIME ?= 5s

.PHONY: run test build cross lint fuzz clean

## run: the simulated appliance (simulated receiver on a pty, simulated PPS,
## soft clock) serving NTP on 127.0.0.1:12300, in the foreground.
run:
	$(GO) run ./cmd/gpsntpd -sim

## test: unit, pty, real-socket, real-client and end-to-end tests, then the
## fuzzers for a few seconds each.
test: lint
	$(GO) test -count=1 -timeout 15m $(PKGS)
	@if [ "$(FUZZTIME)" != "0" ]; then $(MAKE) --no-print-directory fuzz; fi

fuzz:
	@set -e; for t in $$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)' --include='*_test.go' . | sed 's/^func //' | sort -u); do \
		pkg=$$(grep -rlE "^func $$t\(" --include='*_test.go' . | head -1 | xargs dirname); \
		echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
		$(GO) test -run=NONE -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$pkg; \
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
