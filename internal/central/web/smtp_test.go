package web_test

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a small SMTP server on loopback that keeps every mail
// it is given.
type smtpServer struct {
	addr string
	// tls, if set, is offered with STARTTLS, and then AUTH PLAIN of
	// user and pass.
	tls        *tls.Config
	user, pass string
	// mu guards the following.
	mu    sync.Mutex
	mails []gotMail
	got   chan struct{}
}

// gotMail is one mail the server received.
type gotMail struct {
	From string
	To   []string
	Data string
	// Secure and Authed say the mail came over STARTTLS, by an
	// authenticated client.
	Secure, Authed bool
}

func startSMTP(t testing.TB) *smtpServer { return startSMTPWith(t, &smtpServer{}) }

// startSMTPWith starts s.
func startSMTPWith(t testing.TB, s *smtpServer) *smtpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr, s.got = l.Addr().String(), make(chan struct{}, 100)
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c) }()
		}
	}()
	return s
}

// serve speaks enough SMTP for net/smtp: EHLO, MAIL, RCPT, DATA, QUIT.
func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 test ESMTP")
	var m gotMail
	secure, authed := false, false
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		arg := strings.TrimSpace(strings.TrimPrefix(line, line[:len(cmd)]))
		switch cmd {
		case "EHLO", "HELO":
			switch {
			case s.tls != nil && !secure:
				tp.PrintfLine("250-test\r\n250 STARTTLS")
			case s.tls != nil:
				tp.PrintfLine("250-test\r\n250 AUTH PLAIN")
			default:
				tp.PrintfLine("250-test\r\n250 8BITMIME")
			}
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, tp, secure = tc, textproto.NewConn(tc), true
		case "AUTH":
			want := "PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+s.user+"\x00"+s.pass))
			if !secure || arg != want {
				tp.PrintfLine("535 no")
				continue
			}
			authed = true
			tp.PrintfLine("235 ok")
		case "MAIL":
			m = gotMail{From: angle(arg), Secure: secure, Authed: authed}
			tp.PrintfLine("250 ok")
		case "RCPT":
			m.To = append(m.To, angle(arg))
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go on")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.Data = string(b)
			s.mu.Lock()
			s.mails = append(s.mails, m)
			s.mu.Unlock()
			s.got <- struct{}{}
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 no")
		}
	}
}

// angle is the address in a MAIL or RCPT argument: FROM:<a@b> BODY=8BITMIME.
func angle(arg string) string {
	_, a, _ := strings.Cut(arg, "<")
	a, _, _ = strings.Cut(a, ">")
	return a
}

// wait returns the next mail, failing the test after 10 s.
func (s *smtpServer) wait(t testing.TB) gotMail {
	t.Helper()
	select {
	case <-s.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no mail within 10 s")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mails[len(s.mails)-1]
}

// none fails the test if a mail arrives within d.
func (s *smtpServer) none(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-s.got:
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("unexpected mail: %+v", s.mails[len(s.mails)-1])
	case <-time.After(d):
	}
}
