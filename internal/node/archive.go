package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/audit"
	"github.com/orbisproject/orbis/internal/node/rm"
)

// errNoCentral is a push of a node that follows no central: the rows
// wait in the spool (within its bound) until the node registers.
var errNoCentral = errors.New("this node follows no central: traffic waits in the spool")

// centralArchive is the node's client of central's traffic archive
// (paper 4.4.3), over the signed node channel with the credentials the
// resource manager keeps in rmDir. It reads them at the first push and
// again after central refused them, so a node that registers later, or
// again, archives without a restart.
type centralArchive struct {
	rmDir string
	hc    *http.Client // nil: the node client's own
	log   *slog.Logger

	// mu guards the following.
	mu     sync.Mutex
	client *api.NodeClient
}

var _ audit.Archive = (*centralArchive)(nil)

// newCentralArchive returns the archive client of the node whose
// resource manager keeps its state in rmDir.
func newCentralArchive(rmDir string, log *slog.Logger) *centralArchive {
	return &centralArchive{rmDir: rmDir, log: log}
}

// Push sends one batch, named by its content so that every retry of it
// is the same batch to central. A batch central refuses as malformed
// (400, 413) is dropped and logged: retried, it would hold back every
// later batch in the spool.
func (a *centralArchive) Push(ctx context.Context, node string, rows []audit.Row) error {
	c, err := a.clientNow()
	if err != nil {
		return err
	}
	_, err = c.PushTraffic(ctx, api.TrafficBatch{ID: audit.BatchID(rows), Rows: audit.RowsToAPI(rows)})
	var ce *api.NodeCallError
	switch {
	case errors.As(err, &ce) && ce.Status == http.StatusUnauthorized:
		a.forget()
	case errors.As(err, &ce) && (ce.Status == http.StatusBadRequest || ce.Status == http.StatusRequestEntityTooLarge):
		a.log.Error("central refused an audit batch; dropped", "rows", len(rows), "err", err)
		return nil
	}
	return err
}

// clientNow returns the client of central, reading the credentials if
// need be.
func (a *centralArchive) clientNow() (*api.NodeClient, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client != nil {
		return a.client, nil
	}
	creds, ok, err := rm.LoadCredentials(a.rmDir)
	if err != nil {
		return nil, fmt.Errorf("traffic archive: %w", err)
	}
	if !ok {
		return nil, errNoCentral
	}
	hc := a.hc
	if hc == nil {
		hc = creds.HTTPClient()
	}
	a.client = api.NewNodeClient(creds.Central, creds.NodeID, creds.Secret, hc)
	return a.client, nil
}

// forget drops the client, so the next push reads the credentials again.
func (a *centralArchive) forget() {
	a.mu.Lock()
	a.client = nil
	a.mu.Unlock()
}

// archiveURL is central's archive page for a node registered with
// central, or "" for a node that follows none.
func archiveURL(rmDir string) string {
	creds, ok, err := rm.LoadCredentials(rmDir)
	if err != nil || !ok {
		return ""
	}
	return creds.Central + "/audit/"
}
