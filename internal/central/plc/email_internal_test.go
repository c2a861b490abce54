package plc

import "testing"

func TestCheckEmail(t *testing.T) {
	good := []string{"a@b", "admin@localhost", "first.last@example.org", "o'brien+tag@mail.x-y.edu", "x_{1}~@a1.b2", "A@EXAMPLE.ORG"}
	bad := []string{"", "a", "@b", "a@", "a@b@c", "javascript:alert(1)//@x.test", "a..b@x", ".a@x", "a.@x", "a b@x", "a@x y",
		"<a>@x", "a\"b@x", "a@x..y", "a@-x", "a@x-", "a@x.", "a@ünï.org", "ä@x", "a@x\n", "a`b@x", "a(b)@x", "a@[127.0.0.1]",
		string(make([]byte, 65)) + "@x", "a@" + string(make([]byte, 64)) + ".x"}
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
