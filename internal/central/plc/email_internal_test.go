package plc

import (
	"strings"
	"testing"
)

func TestCheckEmail(t *testing.T) {
	good := []string{"a@b", "admin@localhost", "first.last@example.org", "o'brien+tag@mail.x-y.edu", "x_{1}~@a1.b2", "A@EXAMPLE.ORG"}
	bad := []string{"", "a", "@b", "a@", "a@b@c", "javascript:alert(1)//@x.test", "a..b@x", ".a@x", "a.@x", "a b@x", "a@x y",
		"<a>@x", "a\"b@x", "a@x..y", "a@-x", "a@x-", "a@x.", "a@ünï.org", "ä@x", "a@x\n", "a`b@x", "a(b)@x", "a@[127.0.0.1]",
		strings.Repeat("a", maxLocalLen+1) + "@x", "a@" + strings.Repeat("b", maxLabelLen+1) + ".x",
		"a@" + strings.Repeat("b.", maxEmailLen/2) + "b"}
	for _, e := range good {
		if err := checkEmail(e); err != nil {
			t.Errorf("checkEmail(%q): %v", e, err)
		}
	}
	for _, e := range bad {
		if err := checkEmail(e); err == nil {
			t.Errorf("checkEmail(%q) accepted it", e)
		}
	}
}
