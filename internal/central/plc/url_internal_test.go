package plc

import (
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	good := []string{"", "http://x", "https://example.org/", "http://planetlab.cs.princeton.edu/~acb/proj?x=1&y=2#top",
		"HTTPS://Example.ORG:8443/a", "http://127.0.0.1:8080/", "http://[2001:db8::1]/", "http://example.org./",
		"https://xn--fsq.example/ünï", "http://x/" + strings.Repeat("a", maxURLLen-9)}
	bad := []string{"javascript:alert(1)", "JavaScript:alert(document.cookie)", "javascript://x.org/%0aalert(1)",
		"data:text/html,<script>alert(1)</script>", "vbscript:msgbox", "file:///etc/passwd", "ftp://x.org/",
		"//x.org/a", "/relative", "x.org", "http:", "http://", "http:///a", "http:x.org", "http://user:pw@x.org/",
		"http://a@x.org", "http://x .org/", "http://x.org/a b", "http://x.org/\n", "http://x.org/\x00", " http://x.org",
		"http://-x.org/", "http://x.org/\"onclick=\"x", "http://x.org/a<b", "http://x.org/{a}", "http://x.org\\@y.org/", "http://x..org/", "http://<x>/", "http://x.org:port/", "http://x.org/" + strings.Repeat("a", maxURLLen),
		"http://x.org/\xff", "https://例.example/"}
	for _, u := range good {
		if err := checkURL(u); err != nil {
			t.Errorf("checkURL(%q): %v", u, err)
		}
	}
	for _, u := range bad {
		if err := checkURL(u); err == nil {
			t.Errorf("checkURL(%q) accepted it", u)
		}
	}
}
