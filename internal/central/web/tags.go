package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// tagRow is a slice tag with its node's hostname ("" on every node).
type tagRow struct {
	api.SliceTag
	Node string
}

// sliceTags returns the tags of slice id, with node hostnames from nodes.
func (p *Portal) sliceTags(r *request, id int64, nodes []api.Node) ([]tagRow, error) {
	var tags []api.SliceTag
	if err := p.call(r.Context(), r.caller, "GetSliceTags", &tags, map[string]any{"slice_id": id}); err != nil {
		return nil, err
	}
	host := map[int64]string{}
	for _, n := range nodes {
		host[n.NodeID] = n.Hostname
	}
	out := make([]tagRow, len(tags))
	for i, t := range tags {
		out[i] = tagRow{SliceTag: t, Node: host[t.NodeID]}
		if t.NodeID != 0 && out[i].Node == "" {
			out[i].Node = "node " + strconv.FormatInt(t.NodeID, 10)
		}
	}
	return out, nil
}

// addTag adds a tag to the slice (AddSliceTag: which tags a person may
// set is the core's rule, by role).
func (p *Portal) addTag(w http.ResponseWriter, r *request) {
	name := strings.TrimSpace(r.PostFormValue("tagname"))
	if name == "" {
		p.sliceError(w, r, "tagname", "Enter the tag's name.")
		return
	}
	args := []any{r.PathValue("name"), name, tagValue(r)}
	if node := strings.TrimSpace(r.PostFormValue("tag_node")); node != "" {
		args = append(args, node)
	}
	if err := p.call(r.Context(), r.caller, "AddSliceTag", nil, args...); err != nil {
		msg := p.message("add tag", err)
		p.sliceError(w, r, fieldOf(msg, "tagname", "value", "node_id_or_hostname"), msg)
		return
	}
	p.done(w, r, "tagadded")
}

// updateTag sets a tag's value (UpdateSliceTag).
func (p *Portal) updateTag(w http.ResponseWriter, r *request) {
	p.tagCall(w, r, "UpdateSliceTag", "tagsaved", tagValue(r))
}

// removeTag deletes a tag (DeleteSliceTag).
func (p *Portal) removeTag(w http.ResponseWriter, r *request) {
	p.tagCall(w, r, "DeleteSliceTag", "taggone")
}

// tagCall calls method on the posted slice_tag_id with args after it; a
// refusal shows beside that tag.
func (p *Portal) tagCall(w http.ResponseWriter, r *request, method, done string, args ...any) {
	id, err := strconv.ParseInt(r.PostFormValue("slice_tag_id"), 10, 64)
	if err != nil {
		p.sliceError(w, r, "tags", "No such tag.")
		return
	}
	if err := p.call(r.Context(), r.caller, method, nil, append([]any{id}, args...)...); err != nil {
		p.sliceError(w, r, "tag-"+strconv.FormatInt(id, 10), p.message(method, err))
		return
	}
	p.done(w, r, done)
}

// tagValue is the posted value with the browser's CRLF line ends (a
// textarea's, as HTML sends them) turned back into LF: an initscript's
// "#!/bin/sh\r" would not run.
func tagValue(r *request) string {
	return strings.ReplaceAll(r.PostFormValue("value"), "\r\n", "\n")
}
