//go:build !linux

package main

import (
	"errors"
	"log/slog"

	"github.com/gpsntp/gpsntp/config"
)

func checkClockCapability() error {
	return errors.New("clock system: supported on Linux only; use `clock soft`")
}

func dropPrivileges(cfg config.Config, sim bool, log *slog.Logger) error {
	return nil
}

func controlGroup(cfg config.Config, sim bool) int { return -1 }
