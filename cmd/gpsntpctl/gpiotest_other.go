//go:build !linux

package main

import (
	"errors"
	"io"
)

func measureGPIO(o gpiotestOptions, stderr io.Writer) ([]latencySample, error) {
	return nil, errors.New("needs Linux's GPIO character device")
}
