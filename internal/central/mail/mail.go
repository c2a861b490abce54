// Package mail sends central's mails (password reset links, registration
// notices) through an SMTP relay, with net/smtp.
//
// Mails are queued and sent by one goroutine, so that no request waits
// for the relay: Send never blocks, the queue is bounded (a mail that
// does not fit is dropped), and each delivery has a deadline. A mail
// that is dropped or cannot be delivered is logged with its link, so
// that the operator can pass the link on as when no relay is configured.
package mail

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultTimeout  = 20 * time.Second
	DefaultQueueLen = 100
)

// Config says how to reach the relay.
type Config struct {
	// Addr is the relay's host:port; empty means no mail is sent.
	Addr string
	// From is the sender (default orbis@ the machine's host name).
	From string
	// Username and Password, if Username is set, authenticate with
	// AUTH PLAIN, which net/smtp allows only over TLS or to loopback.
	Username, Password string
	// Timeout bounds one mail's delivery, from dialing to QUIT
	// (DefaultTimeout if 0).
	Timeout time.Duration
	// QueueLen bounds the mails waiting to be sent (DefaultQueueLen if 0).
	QueueLen int
	// TLS, if not nil, is used for STARTTLS (ServerName defaults to
	// Addr's host); tests set RootCAs.
	TLS *tls.Config
}

// Message is one mail.
type Message struct {
	To      []string
	Subject string
	Body    string
	// Link is the one-time link the body holds, if any: logged when the
	// mail cannot be sent.
	Link string
}

// Mailer queues and sends mails.
type Mailer struct {
	cfg   Config
	log   *slog.Logger
	queue chan Message
}

// New returns a mailer for cfg, which must name a relay; Run sends.
func New(cfg Config, log *slog.Logger) (*Mailer, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp address %q: want host:port: %w", cfg.Addr, err)
	}
	if cfg.From == "" {
		name, _ := os.Hostname()
		cfg.From = "orbis@" + cmp.Or(name, "localhost")
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("smtp sender %q: %w", cfg.From, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.TLS == nil {
		cfg.TLS = &tls.Config{}
	}
	if cfg.TLS.ServerName == "" {
		cfg.TLS = cfg.TLS.Clone()
		cfg.TLS.ServerName = host
	}
	return &Mailer{cfg: cfg, log: log, queue: make(chan Message, cfg.QueueLen)}, nil
}

// Send queues m without waiting; a full queue drops it (logged).
func (m *Mailer) Send(msg Message) {
	select {
	case m.queue <- msg:
	default:
		m.failed(msg, errors.New("mail queue full"))
	}
}

// Run sends queued mails until ctx is done.
func (m *Mailer) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-m.queue:
			if err := m.deliver(ctx, msg); err != nil {
				m.failed(msg, err)
				continue
			}
			m.log.Info("mail sent", "to", msg.To, "subject", msg.Subject)
		}
	}
}

// failed logs a mail that was not sent, with its link for the operator.
func (m *Mailer) failed(msg Message, err error) {
	attrs := []any{"to", msg.To, "subject", msg.Subject, "err", err}
	if msg.Link != "" {
		attrs = append(attrs, "link", msg.Link)
	}
	m.log.Warn("mail not sent: give the person the link yourself", attrs...)
}

// deliver sends msg within the timeout, with STARTTLS when the relay
// offers it.
func (m *Mailer) deliver(ctx context.Context, msg Message) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, m.cfg.TLS.ServerName)
	if err != nil {
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	if err := m.session(c, msg); err != nil {
		return err
	}
	return c.Quit()
}

// session says hello, secures and authenticates the connection if it
// can, and hands msg over.
func (m *Mailer) session(c *smtp.Client, msg Message) error {
	name, _ := os.Hostname()
	if err := c.Hello(cmp.Or(name, "localhost")); err != nil {
		return fmt.Errorf("smtp hello: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(m.cfg.TLS); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if m.cfg.Username != "" {
		auth := smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.cfg.TLS.ServerName)
		if err := c.Auth(auth); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(addrOf(m.cfg.From)); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	for _, to := range msg.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp rcpt %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(m.compose(msg)); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	return nil
}

// addrOf is the bare address of a sender such as "Orbis <a@b>".
func addrOf(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return a.Address
	}
	return from
}

// compose writes msg as a plain text mail with CRLF line ends.
func (m *Mailer) compose(msg Message) []byte {
	var b strings.Builder
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", m.cfg.From)
	hdr("To", strings.Join(msg.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", msg.Subject))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(msg.Body, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// ResetPath is the portal's path of a password reset token: the link is
// it on the portal's address.
func ResetPath(token string) string { return "/reset/" + token }

// Reset is the mail that carries email's password reset link, which
// works once, for ttl.
func Reset(email, link string, ttl time.Duration) Message {
	return Message{To: []string{email}, Subject: "Orbis: reset your password", Link: link,
		Body: fmt.Sprintf("Someone, probably you, asked to reset the password of %s on Orbis.\n\nChoose a new one at\n\n  %s\n\nThe link works once, for %s. If you did not ask, ignore this mail: your password is unchanged.\n",
			email, link, ttl)}
}
