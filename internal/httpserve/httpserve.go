// Package httpserve runs an HTTP server for as long as a context lasts,
// then stops it gracefully: how central, the node manager and the lease
// broker serve their APIs.
package httpserve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve answers srv's requests on l until ctx is done, then shuts srv down,
// letting calls in progress finish for up to grace; with grace 0 or less
// it closes every connection at once (for calls that stream without end).
// It returns the error that stopped srv before ctx was done, or else
// Shutdown's.
func Serve(ctx context.Context, srv *http.Server, l net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if grace <= 0 {
		srv.Close()
		<-errc
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	return err
}
