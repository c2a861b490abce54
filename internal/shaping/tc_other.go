//go:build !linux

package shaping

import "errors"

// tc is the kernel seam (see tc_linux.go); there is no kernel one here.
type tc interface {
	init(base []class) (found []uint16, err error)
	setClass(c class) error
	delClass(minor uint16) error
	deleteRoot() error
	close()
}

func newKernelTC(dev, nsPath string) (tc, error) {
	return nil, errors.New("traffic shaping needs Linux")
}
