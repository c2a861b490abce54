package plc_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestMessages keeps message templates as PLCAPI does: admins write
// them, admins and nodes read them, ids are unique, the bounds hold, and
// a PI's or user's attempts change nothing.
func TestMessages(t *testing.T) {
	w := newWorld(t)
	w.must(w.admin, "AddMessage", map[string]any{"message_id": "Verify account", "subject": "Verify your %(PLC_NAME)s account", "template": "Click %(url)s"})
	w.must(w.admin, "AddMessage", map[string]any{"message_id": "Off", "subject": nil, "enabled": false})
	got := records(t, w.must(&plc.Caller{NodeID: w.nodeA1}, "GetMessages", []any{"Verify account"}))
	if len(got) != 1 || got[0]["template"] != "Click %(url)s" || got[0]["enabled"] != true {
		t.Fatalf("GetMessages: %v", got)
	}
	if got := records(t, w.must(w.admin, "GetMessages", map[string]any{"enabled": false})); len(got) != 1 || got[0]["message_id"] != "Off" || got[0]["subject"] != "" {
		t.Errorf("GetMessages of disabled templates: %v", got)
	}
	w.must(w.admin, "UpdateMessage", "Off", map[string]any{"enabled": true, "template": "on"})

	for _, c := range []*plc.Caller{w.piA, w.userA} {
		for name, args := range map[string][]any{
			"AddMessage": {map[string]any{"message_id": "mine"}}, "UpdateMessage": {"Verify account", map[string]any{"template": "x"}},
			"DeleteMessage": {"Verify account"}, "GetMessages": {},
		} {
			_, err := w.call(c, name, args...)
			fault(t, err, plc.FaultAuth)
		}
	}
	for _, bad := range []struct {
		name string
		args []any
	}{
		{"AddMessage", []any{map[string]any{"message_id": "Off"}}}, // taken
		{"AddMessage", []any{map[string]any{"subject": "no id"}}},
		{"AddMessage", []any{map[string]any{"message_id": "x", "template": strings.Repeat("t", 64<<10+1)}}},
		{"AddMessage", []any{map[string]any{"message_id": "x", "subject": "two\nlines"}}},
		{"UpdateMessage", []any{"Off", map[string]any{"message_id": "renamed"}}},
		{"UpdateMessage", []any{"no such", map[string]any{"subject": "x"}}},
		{"DeleteMessage", []any{"no such"}},
	} {
		_, err := w.call(w.admin, bad.name, bad.args...)
		fault(t, err, plc.FaultInvalidArg)
	}
	if got := records(t, w.must(w.admin, "GetMessages", "Off")); len(got) != 1 || got[0]["template"] != "on" || got[0]["enabled"] != true {
		t.Errorf("message Off after the calls: %v", got)
	}
	for i := 2; i < 256; i++ {
		w.must(w.admin, "AddMessage", map[string]any{"message_id": fmt.Sprint("m", i)})
	}
	_, err := w.call(w.admin, "AddMessage", map[string]any{"message_id": "one too many"})
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.admin, "DeleteMessage", "Off")
	if got := records(t, w.must(w.admin, "GetMessages", "Off")); len(got) != 0 {
		t.Errorf("deleted message: %v", got)
	}
}

// messageMethods are messages.go's, for TestMethodTable.
var messageMethods = []string{"GetMessages", "AddMessage", "UpdateMessage", "DeleteMessage"}

// pythonMessageCalls calls the message methods from Python within
// TestXMLRPCPython.
const pythonMessageCalls = `
# Message templates (messages_test.go).
check(call("AddMessage", admin, {"message_id": "plc-py", "subject": "s", "template": "t"}), 1, "AddMessage")
check(call("UpdateMessage", admin, "plc-py", {"enabled": False}), 1, "UpdateMessage")
check(call("GetMessages", admin, ["plc-py"]), [{"message_id": "plc-py", "subject": "s", "template": "t", "enabled": False}], "GetMessages")
fault(103, "AddMessage", piauth, {"message_id": "x"})
check(call("DeleteMessage", admin, "plc-py"), 1, "DeleteMessage")
`
