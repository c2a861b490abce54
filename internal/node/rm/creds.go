package rm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/orbisproject/orbis/api"
)

// credsFile holds the node's credentials in the state directory, mode
// 0600: the secret signs every request to central.
const credsFile = "credentials.json"

// Credentials are what a node needs to talk to central.
type Credentials struct {
	Central string `json:"central"`
	NodeID  int64  `json:"node_id"`
	Secret  string `json:"secret"`
}

// Client returns a client of central with these credentials.
func (c Credentials) Client() *api.NodeClient {
	return api.NewNodeClient(c.Central, c.NodeID, c.Secret, nil)
}

// LoadCredentials reads the credentials kept in dir; ok is false if the
// node has never registered.
func LoadCredentials(dir string) (c Credentials, ok bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, credsFile)); os.IsNotExist(err) {
		return c, false, nil
	}
	if err := readJSON(filepath.Join(dir, credsFile), &c); err != nil {
		return c, false, fmt.Errorf("node credentials: %w", err)
	}
	return c, c.NodeID > 0 && c.Secret != "", nil
}

// Register registers the node at central with a one-time token and
// keeps the credentials in dir, unless dir already holds credentials for
// that central: then it returns them and leaves the token unused.
func Register(ctx context.Context, dir, central string, req api.NodeRegisterRequest) (Credentials, error) {
	if c, ok, err := LoadCredentials(dir); err != nil || (ok && c.Central == central) {
		return c, err
	}
	resp, err := api.RegisterNode(ctx, central, nil, req)
	if err != nil {
		return Credentials{}, err
	}
	c := Credentials{Central: central, NodeID: resp.NodeID, Secret: resp.Secret}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c, fmt.Errorf("node credentials: %w", err)
	}
	if err := writeJSON(dir, credsFile, c); err != nil {
		return c, fmt.Errorf("node credentials: %w", err)
	}
	return c, nil
}
