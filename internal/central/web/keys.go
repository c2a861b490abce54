package web

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// keyRow is one of the person's SSH keys.
type keyRow struct {
	api.Key
	// Type and Comment are the key's first and last words; Fingerprint
	// is its SHA256 fingerprint as ssh-keygen -l shows it.
	Type, Comment, Fingerprint string
}

// keysPage lists the person's SSH keys, with a form to upload one.
func (p *Portal) keysPage(w http.ResponseWriter, r *request) {
	p.renderKeys(w, r, http.StatusOK, newForm(nil))
}

func (p *Portal) renderKeys(w http.ResponseWriter, r *request, status int, f *form) {
	var keys []api.Key
	msg := ""
	if err := p.call(r.Context(), r.caller, "GetKeys", &keys, map[string]any{"person_id": r.caller.PersonID}); err != nil {
		msg, status = p.message("list keys", err), statusOf(err)
	}
	rows := make([]keyRow, len(keys))
	for i, k := range keys {
		rows[i] = describeKey(k)
	}
	p.render(w, status, "keys", &view{Title: "SSH keys", Me: r.caller, CSRF: r.csrf, Flash: flash(r.Request), Error: msg, Form: f, Data: rows})
}

// describeKey splits an authorized_keys line for display.
func describeKey(k api.Key) keyRow {
	row := keyRow{Key: k}
	fields := strings.Fields(k.Key)
	if len(fields) >= 2 {
		row.Type = fields[0]
		if blob, err := base64.StdEncoding.DecodeString(fields[1]); err == nil {
			sum := sha256.Sum256(blob)
			row.Fingerprint = "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
		}
	}
	if len(fields) >= 3 {
		row.Comment = strings.Join(fields[2:], " ")
	}
	return row
}

// addKey uploads an SSH public key for the signed-in person; the core
// checks it and hands it to the nodes of their slices.
func (p *Portal) addKey(w http.ResponseWriter, r *request) {
	f := newForm(r.PostForm)
	key := strings.TrimSpace(f.Value("key"))
	if key == "" {
		f.fail("key", "Paste your public key: the one line of ~/.ssh/id_ed25519.pub.")
		p.renderKeys(w, r, http.StatusBadRequest, f)
		return
	}
	var id int64
	if err := p.call(r.Context(), r.caller, "AddPersonKey", &id, r.caller.PersonID, map[string]any{"key_type": "ssh", "key": key}); err != nil {
		f.fail("key", p.message("add key", err))
		p.renderKeys(w, r, statusOf(err), f)
		return
	}
	http.Redirect(w, r.Request, "/keys?done=keyadded", http.StatusSeeOther)
}

// removeKey deletes one of the person's keys (DeleteKey checks whose).
func (p *Portal) removeKey(w http.ResponseWriter, r *request) {
	var id int64
	if _, err := fmt.Sscan(r.PostFormValue("key_id"), &id); err != nil {
		p.renderKeys(w, r, http.StatusBadRequest, errForm("", "No key chosen."))
		return
	}
	if err := p.call(r.Context(), r.caller, "DeleteKey", nil, id); err != nil {
		p.renderKeys(w, r, statusOf(err), errForm("", p.message("remove key", err)))
		return
	}
	http.Redirect(w, r.Request, "/keys?done=keygone", http.StatusSeeOther)
}

// errForm is an empty form with msg beside field.
func errForm(field, msg string) *form {
	f := newForm(nil)
	f.fail(field, msg)
	return f
}
