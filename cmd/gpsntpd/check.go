package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gpsntp/gpsntp/board"
	"github.com/gpsntp/gpsntp/config"
)

// validate checks what the parser leaves to the daemon's packages: restrict
// and discard lines (ntpserve/restrict), board and receiver names. Errors
// name file:line where the directive has one.
func validate(cfg config.Config) error {
	var errs []error
	if _, _, err := accessRules(cfg); err != nil {
		errs = append(errs, err)
	}
	if cfg.Board != "auto" {
		if _, ok := board.ByName(cfg.Board); !ok {
			errs = append(errs, fmt.Errorf("%s: board %s: unknown board (known: auto, %s)", cfg.Pos["board"], cfg.Board, boardNames()))
		}
	}
	if r := cfg.GPS.Receiver; r != "" {
		if _, ok := board.ReceiverByName(r); !ok {
			errs = append(errs, fmt.Errorf("%s: gps: unknown receiver %q (known: %s)", cfg.Pos["gps"], r, receiverNames()))
		}
	}
	return errors.Join(errs...)
}

func receiverNames() string {
	var n []string
	for _, r := range board.Receivers() {
		n = append(n, r.Name)
	}
	return strings.Join(n, ", ")
}
