package sliver

import "fmt"

// Spec returns the stored spec of the sliver name.
func (m *Manager) Spec(name string) (Spec, error) {
	if err := CheckName(name); err != nil {
		return Spec{}, fmt.Errorf("sliver %q: %w", name, ErrNotFound)
	}
	return m.readSpec(name)
}

// Login returns the spec of the sliver name if its users may log in: it
// exists and is not stopped. An idle sliver may: the login starts it.
func (m *Manager) Login(name string) (Spec, error) {
	s, err := m.Spec(name)
	if err != nil {
		return Spec{}, err
	}
	if m.marker(name, stoppedFile) {
		return Spec{}, fmt.Errorf("sliver %s: %w", name, ErrStopped)
	}
	return s, nil
}
