package api

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// rspecJSONNames lists the JSON names of Rspec's fields, Privileges'
// prefixed with "privileges.".
func rspecJSONNames(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Type == reflect.TypeOf(Privileges{}) {
			out = append(out, rspecJSONNames(f.Type, prefix+name+".")...)
			continue
		}
		out = append(out, prefix+name)
	}
	return out
}

func TestEveryRspecFieldHasAnEntry(t *testing.T) {
	names := rspecJSONNames(reflect.TypeOf(Rspec{}), "")
	for _, n := range names {
		if ResourceByName(n) == nil {
			t.Errorf("Rspec field %s has no entry in Resources", n)
		}
	}
	if len(names) != len(Resources) {
		t.Errorf("Rspec has %d fields, Resources %d entries: one names no field", len(names), len(Resources))
	}
}

func TestEveryEntryHasAnEnforcer(t *testing.T) {
	for _, r := range Resources {
		if r.Enforcer == "" {
			t.Errorf("%s: no enforcer: nothing on a node would keep it", r.Name)
		}
		if r.Doc == "" {
			t.Errorf("%s: no Doc", r.Name)
		}
	}
	for _, a := range AttributeTags {
		if a.Enforcer == "" {
			t.Errorf("attribute tag %s: no enforcer", a.Name)
		}
	}
}

func TestTableIsConsistent(t *testing.T) {
	tags := map[string]string{}
	for _, r := range Resources {
		for _, ref := range []string{r.AtMost, r.Requires} {
			if ref != "" && ResourceByName(ref) == nil {
				t.Errorf("%s: names %s, which is not in the table", r.Name, ref)
			}
		}
		if (len(r.Tags) > 0 || r.DelegateTag != "") && r.Role == 0 {
			t.Errorf("%s: tags without a role", r.Name)
		}
		if r.Kind != List && r.Kind != Pool && !r.IsNumber() {
			t.Errorf("%s: a %s without a field accessor", r.Name, r.Kind)
		}
		names := []string{r.DelegateTag}
		for _, tg := range r.Tags {
			names = append(names, tg.Name)
			if r.Kind != List && tg.Scale <= 0 {
				t.Errorf("%s: tag %s has no scale", r.Name, tg.Name)
			}
		}
		for _, n := range names {
			if n == "" {
				continue
			}
			if other, dup := tags[n]; dup {
				t.Errorf("tag %s sets both %s and %s", n, other, r.Name)
			}
			tags[n] = r.Name
		}
	}
	for _, rt := range RefusedTags {
		if _, ok := tags[rt.Name]; ok {
			t.Errorf("tag %s is both refused and in the table", rt.Name)
		}
	}
}

func TestGetSet(t *testing.T) {
	for _, r := range Resources {
		if !r.IsNumber() {
			continue
		}
		var rs Rspec
		r.Set(&rs, 1)
		if got := r.Get(&rs); got != 1 {
			t.Errorf("%s: set 1, got %d", r.Name, got)
		}
		// Exactly one field changed.
		var zero Rspec
		r.Set(&rs, 0)
		if !reflect.DeepEqual(rs, zero) {
			t.Errorf("%s: set touches another field: %+v", r.Name, rs)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		rs   Rspec
		want error
	}{
		{"zero", Rspec{}, nil},
		{"full", Rspec{CPUShares: 5, CPUGuarantee: 100, CPUCap: true, MemoryMax: 1 << 30, MemoryGuarantee: 1 << 20,
			NetMinRate: 10, NetMaxRate: 100, NetMaxKByte: 10, NetThreshKByte: 5}, nil},
		{"negative", Rspec{DiskMax: -1}, ErrOutOfRange},
		{"shares above the kernel's", Rspec{CPUShares: MaxCPUShares + 1}, ErrOutOfRange},
		{"guarantee above the node", Rspec{CPUGuarantee: 1001}, ErrOutOfRange},
		{"end past year 9999", Rspec{End: MaxTime + 1}, ErrOutOfRange},
		{"memory guarantee over max", Rspec{MemoryMax: 10, MemoryGuarantee: 11}, ErrPair},
		{"memory guarantee over the default", Rspec{MemoryGuarantee: 11}, nil},
		{"min rate over max", Rspec{NetMinRate: 11, NetMaxRate: 10}, ErrPair},
		{"thresh over no cap", Rspec{NetThreshKByte: 1}, ErrPair},
		{"cap without guarantee", Rspec{CPUCap: true}, ErrPair},
		{"too many ports", Rspec{Ports: make([]Port, MaxPorts+1)}, ErrOutOfRange},
		{"port 0", Rspec{Ports: []Port{{"tcp", 0}}}, ErrOutOfRange},
		{"sctp", Rspec{Ports: []Port{{"sctp", 80}}}, ErrOutOfRange},
		{"port twice", Rspec{Ports: []Port{{"udp", 53}, {"udp", 53}}}, ErrOutOfRange},
		{"bind a path", Rspec{Privileges: Privileges{NodeManager: true}, BindSlices: []string{"../x"}}, ErrOutOfRange},
		{"bind without the privilege", Rspec{BindSlices: []string{"mit_x"}}, ErrPair},
		{"delegated out of range", Rspec{Privileges: Privileges{NodeManager: true}, Delegated: &Rspec{CPUGuarantee: 2000}}, ErrOutOfRange},
		{"delegated without the privilege", Rspec{Delegated: &Rspec{}}, ErrPair},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(&tc.rs)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
			var fe *FieldError
			if err != nil && !errors.As(err, &fe) {
				t.Errorf("%v is not a *FieldError", err)
			}
		})
	}
}

func TestFillDefaultsAndRepair(t *testing.T) {
	rs := Rspec{NetMinRate: 20000, NetMaxKByte: 10, NetThreshKByte: 50, CPUCap: true}
	FillDefaults(&rs)
	Repair(&rs)
	want := Rspec{CPUShares: 1, NetMinRate: 20000, NetMaxRate: 20000, NetMaxKByte: 10, NetThreshKByte: 10}
	if !reflect.DeepEqual(rs, want) {
		t.Errorf("got %+v\nwant %+v", rs, want)
	}
	if err := Validate(&rs); err != nil {
		t.Errorf("a repaired rspec is invalid: %v", err)
	}
}

func TestTags(t *testing.T) {
	for _, tc := range []struct {
		tag, value string
		want       error
		check      func(Rspec) bool
	}{
		{"memory", "512", nil, func(r Rspec) bool { return r.MemoryMax == 512<<20 }},
		{"as_hard", "1048576", nil, func(r Rspec) bool { return r.MemoryMax == 1<<20 }},
		{"disk_max", "2", nil, func(r Rspec) bool { return r.DiskMax == 2048 }},
		{"cpu_pct", "25", nil, func(r Rspec) bool { return r.CPUGuarantee == 250 }},
		{"cpu_pct", "101", ErrOutOfRange, nil},
		{"delegate_cpu_pct", "101", ErrOutOfRange, nil},
		{"cpu_share", "-1", ErrTagValue, nil},
		{"cpu_share", "x", ErrTagValue, nil},
		{"cpu_share", "262145", ErrOutOfRange, nil},
		{"memory", "9223372036854775807", ErrOutOfRange, nil},
		{"cpu_cap", "2", ErrTagValue, nil},
		{"admin", "1", nil, func(r Rspec) bool { return r.Privileges.Admin }},
		{"ports", "tcp/80,udp/53", nil, func(r Rspec) bool { return len(r.Ports) == 2 && r.Ports[1] == Port{"udp", 53} }},
		{"ports", "tcp/80,tcp/80", ErrTagValue, nil},
		{"bind_slices", "mit_a,mit_b", nil, func(r Rspec) bool { return len(r.BindSlices) == 2 }},
		{"bind_slices", "mit_a,../x", ErrTagValue, nil},
	} {
		t.Run(tc.tag+"="+tc.value, func(t *testing.T) {
			spec, known, err := LookupTag(tc.tag)
			if !known || err != nil {
				t.Fatalf("LookupTag = %v, %v", known, err)
			}
			var rs Rspec
			err = spec.Apply(&rs, tc.value)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Apply = %v, want %v", err, tc.want)
			}
			if spec.Check(tc.value) == nil != (err == nil) {
				t.Errorf("Check and Apply disagree")
			}
			if tc.check != nil && !tc.check(rs) {
				t.Errorf("Apply gave %+v", rs)
			}
			if err == nil && spec.Format(&rs) != tc.value {
				t.Errorf("Format = %q, want %q", spec.Format(&rs), tc.value)
			}
		})
	}
}

func TestRefusedTags(t *testing.T) {
	for _, name := range []string{"net_share", "vsys", "capabilities", "cpu_hard", "nofile_soft"} {
		if _, _, err := LookupTag(name); !errors.Is(err, ErrTagRefused) {
			t.Errorf("LookupTag(%s) = %v, want ErrTagRefused", name, err)
		}
	}
	for _, name := range []string{"nproc_hard", "openfd_hard", "as_hard", "vref", "initscript", "my_note"} {
		if _, _, err := LookupTag(name); err != nil {
			t.Errorf("LookupTag(%s) = %v", name, err)
		}
	}
	if s, known, _ := LookupTag("my_note"); known || s.Role != RoleUser || s.Kind != Text {
		t.Errorf("free-form tag: %+v known=%v", s, known)
	}
	if s, _, _ := LookupTag("initscript"); s.Check(strings.Repeat("x", MaxInitScript+1)) == nil {
		t.Errorf("an initscript over MaxInitScript passes")
	}
}

func TestSliceName(t *testing.T) {
	for name, ok := range map[string]bool{
		"mit_x": true, "a.b_c.D_9": true, "": false, "mit": false, "MIT_x": false, ".mit_x": false,
		"mit_..x": false, "mit_x/y": false, "mit_" + strings.Repeat("x", 61): false, "mit_x\n": false,
	} {
		_, err := ParseSliceName(name)
		if (err == nil) != ok || SliceName(name).Valid() != ok {
			t.Errorf("%q: ParseSliceName = %v, Valid = %v, want ok %v", name, err, SliceName(name).Valid(), ok)
		}
		if err != nil && !errors.Is(err, ErrSliceName) {
			t.Errorf("%q: %v does not wrap ErrSliceName", name, err)
		}
	}
	if s := SliceName("mit_x").Site(); s != "mit" {
		t.Errorf("Site = %q", s)
	}
}

func TestSliverStates(t *testing.T) {
	if !SliverStopped.Valid() || SliverState("zombie").Valid() {
		t.Error("Valid is wrong")
	}
}

func TestAttributeValue(t *testing.T) {
	attrs := []Attribute{{"image", "old"}, {"initscript", "a"}, {"initscript", "b"}}
	if got := AttributeValue(attrs, "vref"); got != "old" {
		t.Errorf("vref from its alias image: %q", got)
	}
	if got := AttributeValue(attrs, "initscript"); got != "b" {
		t.Errorf("initscript: %q, want the newest", got)
	}
	attrs = append(attrs, Attribute{"vref", "new"})
	if got := AttributeValue(attrs, "vref"); got != "new" {
		t.Errorf("vref over image: %q", got)
	}
	if got := AttributeValue(attrs, "image"); got != "old" {
		t.Errorf("image: %q", got)
	}
}

func TestVref(t *testing.T) {
	spec, known, err := LookupTag("vref")
	if !known || err != nil {
		t.Fatal(known, err)
	}
	for v, ok := range map[string]bool{"": true, "debian-12": true, "fedora39": true, "../etc": false, ".x": false, "a/b": false, strings.Repeat("a", 65): false} {
		if err := spec.Check(v); (err == nil) != ok {
			t.Errorf("vref %q: %v", v, err)
		}
	}
}
