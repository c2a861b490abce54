//go:build !linux

package sshgw

import (
	"errors"
	"os"
)

func setWinsize(f *os.File, w winsize) error { return errors.New("pty: needs Linux") }
