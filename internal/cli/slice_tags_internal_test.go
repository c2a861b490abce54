package cli

import "testing"

func TestOneLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1", "1"},
		{"", ""},
		{"tcp/61080\n", "tcp/61080"},
		{"\n#!/bin/sh\necho hi\n", "#!/bin/sh…"},
		{"a\tb", "a b"},
		{"0123456789", "0123456789"},
		{"01234567890", "012345678…"},
		{"ééééééééééé", "ééééééééé…"},
	} {
		if got := oneLine(tc.in, 10); got != tc.want {
			t.Errorf("oneLine(%q, 10) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
