//go:build !linux

package main

import "github.com/gpsntp/gpsntp/config"

// configuredUser: the privilege drop is Linux-only (privs_other.go), so
// the daemon stays who starts it.
func configuredUser(cfg config.Config) (*identity, error) { return nil, nil }

// mayCreateIn is not checked off Linux: the daemon there is a development
// build, and the directory's existence is checked already.
func mayCreateIn(dir string, id *identity) error { return nil }
