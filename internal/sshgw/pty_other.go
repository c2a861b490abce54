//go:build !linux

package sshgw

import (
	"errors"
	"os"
)

func openPTY() (master, slave *os.File, err error) {
	return nil, nil, errors.New("pty: needs Linux")
}

func setWinsize(f *os.File, w winsize) error { return errors.New("pty: needs Linux") }
