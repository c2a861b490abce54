//go:build !linux

package disk

import "errors"

// Statfs needs Linux.
func Statfs(dir string) (free, size int64, err error) {
	return 0, 0, errors.New("statfs needs Linux")
}
