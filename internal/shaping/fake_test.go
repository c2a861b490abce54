package shaping

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// recordingTC is a tc that keeps the classes it was asked for.
type recordingTC struct {
	mu      sync.Mutex
	classes map[uint16]class
}

func newRecordingTC() *recordingTC { return &recordingTC{classes: map[uint16]class{}} }

// init keeps the classes an earlier Shaper left, as the kernel's does.
func (r *recordingTC) init(base []class) ([]uint16, error) {
	r.mu.Lock()
	var found []uint16
	for m := range r.classes {
		found = append(found, m)
	}
	r.mu.Unlock()
	for _, c := range base {
		r.setClass(c)
	}
	return found, nil
}

func (r *recordingTC) setClass(c class) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.classes[c.minor] = c
	return nil
}

func (r *recordingTC) delClass(minor uint16) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.classes[minor]; !ok {
		return fmt.Errorf("no class 1:%x", minor)
	}
	delete(r.classes, minor)
	return nil
}

func (r *recordingTC) deleteRoot() error { clear(r.classes); return nil }
func (r *recordingTC) close()            {}

// String lists the classes by minor.
func (r *recordingTC) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var cs []class
	for _, c := range r.classes {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].minor < cs[j].minor })
	return strings.TrimSuffix(planText(cs), "\n")
}

func (r *recordingTC) ceil(minor uint16) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.classes[minor].ceil
}
