package plc

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Slice URLs are checked on the way in, by checkURL alone, on every path
// that sets one (AddSlice, UpdateSlice; the JSON API calls the same
// methods): PLCAPI clients and nodes pass them on as they are, and a page
// that shows one as a link must not run a script from it. A URL already
// stored is never checked again: a slice keeps it, and other fields of it
// can still be changed.

// maxURLLen bounds a slice's URL.
const maxURLLen = 1024

// urlUnsafe are the printable ASCII characters that RFC 3986 allows
// nowhere in a URL; in one, they end an HTML attribute or start a tag.
const urlUnsafe = "\"<>\\^`{|}"

// checkURL accepts "" (no URL) and absolute http and https URLs with a
// host name (an internationalised one in its xn-- form) or IP address and
// no user name or password, of at most maxURLLen bytes of printable UTF-8
// without spaces or urlUnsafe. The error quotes the URL and says what is
// wrong.
func checkURL(u string) error {
	if u == "" {
		return nil
	}
	if len(u) > maxURLLen {
		return fmt.Errorf("longer than %d characters", maxURLLen)
	}
	if !utf8.ValidString(u) || strings.IndexFunc(u, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("%q has spaces or control characters", u)
	}
	if i := strings.IndexAny(u, urlUnsafe); i >= 0 {
		return fmt.Errorf("%q: %q is not allowed in a URL (percent-encode it)", u, u[i])
	}
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("%q is not a URL", u)
	}
	switch {
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Errorf("%q: want an http:// or https:// URL", u)
	case p.Opaque != "" || p.Host == "":
		return fmt.Errorf("%q: no host (want http://host/...)", u)
	case p.User != nil:
		return fmt.Errorf("%q: a user name or password in a URL is not allowed", u)
	}
	return checkHost(p.Hostname())
}

// checkHost checks the host of a URL: an IP address or a domain name.
func checkHost(h string) error {
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if err := checkLabel(label); err != nil {
			return fmt.Errorf("host %q: %w", h, err)
		}
	}
	return nil
}
