package audit

import (
	"context"
	"fmt"
)

// SliceInfo is what the pages show of a slice: its description, its URL
// and its users' mail addresses.
type SliceInfo struct {
	Description, URL string
	Emails           []string
}

// Slices tells the pages about slices; the node wires it to central's
// GetSlices and GetPersons.
type Slices interface {
	Info(ctx context.Context, slice string) (SliceInfo, error)
}

// FakeSlices is Slices from a map, for tests and for orbis dev.
type FakeSlices map[string]SliceInfo

// Info implements Slices.
func (f FakeSlices) Info(ctx context.Context, slice string) (SliceInfo, error) {
	info, ok := f[slice]
	if !ok {
		return SliceInfo{}, fmt.Errorf("slice %s: not known", slice)
	}
	return info, nil
}
