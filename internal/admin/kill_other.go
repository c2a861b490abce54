//go:build !linux

package admin

import (
	"errors"

	"github.com/orbisproject/orbis/api"
)

// Kill needs pidfds: Linux only.
func (s *Service) Kill(c Caller, req api.AdminKillRequest) (api.AdminKillResponse, error) {
	return api.AdminKillResponse{}, errors.New("kill: needs Linux pidfds")
}
