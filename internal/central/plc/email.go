package plc

import (
	"fmt"
	"strings"
)

// Email addresses are checked on the way in, by checkEmail alone, on
// every path that sets one (AddPerson, UpdatePerson, Bootstrap; the JSON
// API calls the same methods). An address already stored is never
// checked again: a record imported before this check keeps its email,
// and other fields of it can still be changed.
const (
	maxEmailLen = 254
	maxLocalLen = 64
	maxLabelLen = 63
)

// emailLocalChars are the characters allowed in the part before "@":
// RFC 5322's atext, as the HTML standard's e-mail check allows it, less
// the backquote. Quoted local parts and comments are refused.
const emailLocalChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_{|}~-"

// checkEmail accepts local@domain: a local part of dot-separated runs of
// emailLocalChars, and a domain of dot-separated labels of letters,
// digits and inner hyphens (one label, as in admin@localhost, is
// allowed). The error quotes the address and says what is wrong.
func checkEmail(e string) error {
	if len(e) > maxEmailLen {
		return fmt.Errorf("longer than %d characters", maxEmailLen)
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" {
		return fmt.Errorf("%q is not an email address (want name@domain)", e)
	}
	if len(local) > maxLocalLen {
		return fmt.Errorf("%q: the part before @ is longer than %d characters", e, maxLocalLen)
	}
	for _, run := range strings.Split(local, ".") {
		if run == "" {
			return fmt.Errorf("%q: the part before @ has an empty run between dots", e)
		}
		for _, r := range run {
			if !strings.ContainsRune(emailLocalChars, r) {
				return fmt.Errorf("%q: %q is not allowed before @ (letters, digits and !#$%%&'*+/=?^_{|}~-, dot-separated)", e, r)
			}
		}
	}
	for _, label := range strings.Split(domain, ".") {
		if err := checkLabel(label); err != nil {
			return fmt.Errorf("%q: domain %q: %w", e, domain, err)
		}
	}
	return nil
}

// checkLabel checks one label of a domain name.
func checkLabel(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("empty label")
	case len(l) > maxLabelLen:
		return fmt.Errorf("label longer than %d characters", maxLabelLen)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("label %q: only letters, digits and hyphens", l)
		}
	}
	return nil
}
