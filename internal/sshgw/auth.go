package sshgw

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// serverConfig returns the SSH configuration of one connection.
//
// Every key a client offers is answered "go ahead and sign" (PK_OK), and
// the real check comes only once the client has proved that it holds the
// private key: otherwise anyone who knows a user's public key (they are
// public, on GitHub and elsewhere) could probe, without the private key,
// which slices on this node accept it, and so learn that they exist.
// Each connection has its own configuration so that the refusal banner is
// sent once, however many keys the client tries. A key that is accepted
// still needs the slice's room on the gateway (admission) and its mark;
// a refusal for those tells the client why, which reveals nothing to
// someone who does not hold the key.
func (s *Server) serverConfig(cl *client) *ssh.ServerConfig {
	bannerSent := false
	cfg := &ssh.ServerConfig{
		MaxAuthTries: s.cfg.MaxAuthTries,
		PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
			return &ssh.Permissions{}, nil
		},
		VerifiedPublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey, _ *ssh.Permissions, _ string) (*ssh.Permissions, error) {
			perms, err := s.authorize(meta, key)
			msg := Refusal
			if err == nil {
				if err = s.enter(cl, meta.User()); err == nil {
					return perms, nil
				}
				msg = err.Error() + "\n"
			}
			if bannerSent {
				return nil, err
			}
			bannerSent = true
			return nil, &ssh.BannerError{Err: err, Message: msg}
		},
		ServerVersion: "SSH-2.0-orbis",
	}
	cfg.AddHostKey(s.hostKey)
	return cfg
}

// enter marks cl's socket as slice's and counts cl as a connection of
// slice, if the slice has room. (A connection refused for room keeps the
// mark: its key is the slice's.)
func (s *Server) enter(cl *client, slice string) error {
	if s.cfg.Mark != nil {
		mark, ok := s.cfg.Mark(slice)
		err := errors.New("the sliver's traffic is not tagged")
		if ok {
			err = setMark(cl.conn, mark)
		}
		if err != nil {
			s.cfg.Log.Error("ssh login refused: cannot mark the connection as the slice's", "slice", slice, "err", err)
			return fmt.Errorf("orbis: slice %s's traffic cannot be accounted on this node right now; try again later", slice)
		}
	}
	return s.adm.login(cl, slice)
}

// authorize accepts key if it is one of the slice's users' keys. Every
// refusal, whatever its reason, takes at least RefusalDelay, so that
// timing tells no more than the answer: an unknown slice looks exactly
// like a wrong key.
func (s *Server) authorize(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	start := time.Now()
	name := meta.User()
	if s.keyMatches(name, key) {
		return &ssh.Permissions{Extensions: map[string]string{
			"slice": name,
			"key":   ssh.FingerprintSHA256(key),
		}}, nil
	}
	s.cfg.Log.Info("ssh login refused", "slice", name, "remote", meta.RemoteAddr().String(),
		"key", ssh.FingerprintSHA256(key))
	time.Sleep(time.Until(start.Add(s.cfg.RefusalDelay)))
	return nil, errRefused
}

// keyMatches reports whether key is among the authorized keys of the
// sliver name. Lines with options (command=, from=...) are skipped: the
// gateway cannot honour them, and a key meant to be restricted must not
// get a full login.
func (s *Server) keyMatches(name string, key ssh.PublicKey) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	lines, err := s.cfg.Slivers.AuthorizedKeys(name)
	if err != nil {
		return false
	}
	want := key.Marshal()
	for _, line := range lines {
		k, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			continue
		}
		if len(opts) > 0 {
			s.cfg.Log.Warn("ssh key with options skipped", "slice", name, "key", ssh.FingerprintSHA256(k))
			continue
		}
		if bytes.Equal(k.Marshal(), want) {
			return true
		}
	}
	return false
}
