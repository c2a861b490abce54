package rm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

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
	// CA is the PEM of central's CA, pinned at registration: the node
	// verifies central by it ever after. Empty: plain HTTP, or a
	// certificate from a CA the system trusts.
	CA string `json:"ca,omitempty"`
	// InsecureHTTP is set when the node registered over plain HTTP to a
	// central that is not loopback, as the operator allowed.
	InsecureHTTP bool `json:"insecure_http,omitempty"`
}

// Verifier returns what verifies central: its pinned CA, else the
// system's roots.
func (c Credentials) Verifier() *api.Verifier {
	t := api.Trust{System: true, InsecureHTTP: c.InsecureHTTP}
	if c.CA != "" {
		t = api.Trust{CA: []byte(c.CA)}
	}
	v, err := api.NewVerifier(t)
	if err != nil { // LoadCredentials checked the CA; not reached
		v, _ = api.NewVerifier(api.Trust{})
	}
	return v
}

// HTTPClient returns an HTTP client that verifies central by Verifier.
func (c Credentials) HTTPClient() *http.Client { return c.Verifier().HTTPClient() }

// Client returns a client of central with these credentials.
func (c Credentials) Client() *api.NodeClient {
	return api.NewNodeClient(c.Central, c.NodeID, c.Secret, c.HTTPClient())
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
	if c.CA != "" {
		if _, err := api.ParseCA([]byte(c.CA)); err != nil {
			return c, false, fmt.Errorf("node credentials: central's CA: %w", err)
		}
	}
	return c, c.NodeID > 0 && c.Secret != "", nil
}

// Register registers the node at central with a one-time token and
// keeps the credentials in dir, unless dir already holds credentials for
// that central: then it returns them and leaves the token unused.
//
// The token may carry central's CA hash (api.JoinToken); trust says how
// else to verify central (a CA file, the system's roots, plain HTTP). The
// CA that central's certificate chained up to is kept with the
// credentials, pinned for every later request.
func Register(ctx context.Context, dir, central string, trust api.Trust, req api.NodeRegisterRequest) (Credentials, error) {
	if c, ok, err := LoadCredentials(dir); err != nil || (ok && c.Central == central) {
		return c, err
	}
	secret, hash, err := api.SplitJoinToken(req.Token)
	if err != nil {
		return Credentials{}, err
	}
	req.Token = secret
	if hash != "" {
		trust.CAHash = hash
	}
	v, err := api.NewVerifier(trust)
	if err != nil {
		return Credentials{}, err
	}
	if err := v.CheckURL(central); errors.Is(err, api.ErrNoTrust) {
		return Credentials{}, fmt.Errorf("nothing to verify central by: the token carries no CA fingerprint (`orbis nodes token HOST`, run by a user logged in over HTTPS, prints one that does), and no --ca FILE was given")
	} else if err != nil {
		return Credentials{}, err
	}
	resp, err := api.RegisterNode(ctx, central, v.HTTPClient(), req)
	if err != nil {
		return Credentials{}, err
	}
	c := Credentials{Central: central, NodeID: resp.NodeID, Secret: resp.Secret, InsecureHTTP: trust.InsecureHTTP}
	if ca := v.CA(); ca != nil && strings.HasPrefix(central, "https:") {
		c.CA = string(api.EncodeCA(ca))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c, fmt.Errorf("node credentials: %w", err)
	}
	if err := writeJSON(dir, credsFile, c); err != nil {
		return c, fmt.Errorf("node credentials: %w", err)
	}
	return c, nil
}
