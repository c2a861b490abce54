package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/orbisproject/orbis/api"
)

// trustFlags say how to verify central's certificate: its CA file, the
// CA's hash, or (login only) the CA central presents now.
type trustFlags struct {
	ca, caHash   string
	insecureHTTP bool
}

func addTrustFlags(fs *flag.FlagSet) *trustFlags {
	t := &trustFlags{}
	t.add(fs)
	return t
}

func (t *trustFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&t.ca, "ca", "", `central's CA certificate (PEM file, e.g. central's <data>/tls/ca.crt), or "system" for a certificate from a CA this machine trusts (default: the CA orbis login saved)`)
	fs.StringVar(&t.caHash, "ca-hash", "", "central's CA fingerprint, sha256:HEX, as `orbis central` prints it at start (default: the CA orbis login saved)")
	fs.BoolVar(&t.insecureHTTP, "insecure-http", false, "allow a plain http:// central that is not loopback: password and token cross the network in clear")
}

// given says whether any flag names a CA.
func (t *trustFlags) given() bool { return t.ca != "" || t.caHash != "" }

// trust returns the Trust the flags describe, or, without flags, the one
// the saved credentials keep for the same central.
func (t *trustFlags) trust(central string, saved credentials) (api.Trust, error) {
	tr := api.Trust{CAHash: t.caHash, InsecureHTTP: t.insecureHTTP}
	switch {
	case t.ca == "system":
		tr.System = true
	case t.ca != "":
		pem, err := os.ReadFile(t.ca)
		if err != nil {
			return tr, fmt.Errorf("central's CA: %w", err)
		}
		tr.CA = pem
	case t.caHash == "" && sameCentral(central, saved.Central):
		tr = saved.trust()
		tr.InsecureHTTP = tr.InsecureHTTP || t.insecureHTTP
	}
	return tr, nil
}

// verifier checks central's URL against tr and returns what verifies it;
// hint ends the message of a URL with nothing to verify it by.
func verifier(central string, tr api.Trust, hint string) (*api.Verifier, error) {
	v, err := api.NewVerifier(tr)
	if err != nil {
		return nil, &UsageError{Msg: err.Error()}
	}
	if err := v.CheckURL(central); errors.Is(err, api.ErrNoTrust) {
		return nil, &UsageError{Msg: fmt.Sprintf("central %s: nothing to verify its certificate by: give --ca-hash sha256:... (orbis central prints it at start), "+
			"or --ca FILE (central's <data>/tls/ca.crt), or --ca system for a certificate from a public CA, %s", central, hint)}
	} else if err != nil {
		return nil, &UsageError{Msg: err.Error()}
	}
	return v, nil
}

// trust is how the saved credentials verify their central.
func (c credentials) trust() api.Trust {
	switch {
	case c.CA == "system":
		return api.Trust{System: true, InsecureHTTP: c.InsecureHTTP}
	case c.CA != "":
		return api.Trust{CA: []byte(c.CA), InsecureHTTP: c.InsecureHTTP}
	}
	return api.Trust{InsecureHTTP: c.InsecureHTTP}
}

// caHash is the hash of the CA that verifies c's central ("": none kept).
func caHash(v *api.Verifier) string {
	if v == nil || v.CA() == nil {
		return ""
	}
	return api.CAHash(v.CA())
}
