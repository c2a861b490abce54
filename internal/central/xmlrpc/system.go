package xmlrpc

import (
	"context"
	"html/template"
	"net/http"
	"sync"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// sysMethod is an introspection method: no auth argument.
type sysMethod struct {
	*plc.Method
	run func(ctx context.Context, params []any) (any, *plc.Fault)
}

// systemMethods returns the system.* methods. They are built per call,
// which costs little and keeps the handler free of cycles.
func (h *handler) systemMethods() map[string]sysMethod {
	return map[string]sysMethod{
		"system.listMethods": {&plc.Method{
			Name: "system.listMethods", Help: "Lists the methods this server has.",
			Signature: []string{"array"},
		}, h.listMethods},
		"system.methodHelp": {&plc.Method{
			Name: "system.methodHelp", Help: "Returns the help text of a method.",
			Signature: []string{"string", "string"}, MinArgs: 1, MaxArgs: 1,
		}, h.methodHelp},
		"system.methodSignature": {&plc.Method{
			Name: "system.methodSignature", Help: "Returns the signatures of a method: a list of lists of XML-RPC type names, the return type first.",
			Signature: []string{"array", "string"}, MinArgs: 1, MaxArgs: 1,
		}, h.methodSignature},
		"system.multicall": {&plc.Method{
			Name: "system.multicall", Help: "Runs several calls in one request: takes a list of {methodName, params}, returns for each a one-element list holding its result, or a {faultCode, faultString} struct.",
			Signature: []string{"array", "array"}, MinArgs: 1, MaxArgs: 1,
		}, h.multicall},
	}
}

// lookup finds a method of the table or a system method.
func (h *handler) lookup(name string) *plc.Method {
	if sys, ok := h.systemMethods()[name]; ok {
		return sys.Method
	}
	return h.reg.Lookup(name)
}

func (h *handler) listMethods(context.Context, []any) (any, *plc.Fault) {
	names := h.reg.Names()
	sys := []string{"system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall"}
	return append(names, sys...), nil
}

// namedMethod returns the method named by the one string parameter.
func (h *handler) namedMethod(params []any) (*plc.Method, *plc.Fault) {
	name, ok := params[0].(string)
	if !ok {
		return nil, plc.Faultf(plc.FaultInvalidArg, "the method name must be a string")
	}
	m := h.lookup(name)
	if m == nil {
		return nil, plc.Faultf(plc.FaultInvalidMethod, "unknown method %q", name)
	}
	return m, nil
}

func (h *handler) methodHelp(_ context.Context, params []any) (any, *plc.Fault) {
	m, f := h.namedMethod(params)
	if f != nil {
		return nil, f
	}
	return m.Help, nil
}

// methodSignature follows the introspection convention: a list of
// signatures, or the string "undef" when the method declares none.
func (h *handler) methodSignature(_ context.Context, params []any) (any, *plc.Fault) {
	m, f := h.namedMethod(params)
	if f != nil {
		return nil, f
	}
	if len(m.Signature) == 0 {
		return "undef", nil
	}
	return [][]string{m.Signature}, nil
}

// multicall runs each call in turn; each authenticates on its own.
func (h *handler) multicall(ctx context.Context, params []any) (any, *plc.Fault) {
	calls, ok := params[0].([]any)
	if !ok {
		return nil, plc.Faultf(plc.FaultInvalidArg, "system.multicall takes a list of {methodName, params} structs")
	}
	if len(calls) > MaxMulticall {
		return nil, plc.Faultf(plc.FaultInvalidArg, "system.multicall takes at most %d calls, got %d", MaxMulticall, len(calls))
	}
	results := make([]any, 0, len(calls))
	for i, c := range calls {
		if err := ctx.Err(); err != nil {
			return nil, plc.AsFault(h.log, "system.multicall", err)
		}
		method, args, f := multicallEntry(c)
		var result any
		var err error
		if f == nil {
			result, f = h.call(ctx, method, args, true)
		}
		if f == nil { // encode here so that one bad result fails alone
			if result, err = encodeRaw(result); err != nil {
				f = plc.AsFault(h.log, method, err)
			}
		}
		if f != nil {
			h.log.Info("multicall", "index", i, "method", method, "fault", f.Code, "fault_msg", f.Msg)
			results = append(results, faultStruct(f))
			continue
		}
		results = append(results, []any{result})
	}
	return results, nil
}

// multicallEntry reads one {methodName, params} struct.
func multicallEntry(c any) (string, []any, *plc.Fault) {
	m, ok := c.(map[string]any)
	if !ok {
		return "", nil, plc.Faultf(plc.FaultInvalidArg, "a multicall entry must be a {methodName, params} struct")
	}
	method, ok := m["methodName"].(string)
	if !ok {
		return "", nil, plc.Faultf(plc.FaultInvalidArg, "a multicall entry needs a string methodName")
	}
	args, ok := m["params"].([]any)
	if !ok && m["params"] != nil {
		return "", nil, plc.Faultf(plc.FaultInvalidArg, "the params of a multicall entry must be a list")
	}
	return method, args, nil
}

// pageTmpl is the page a browser gets at /PLCAPI/.
var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Parse(pageHTML))
})

const pageHTML = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Orbis PLCAPI</title></head>
<body><h1>Orbis PLCAPI</h1>
<p>This is the PlanetLab Central API (PLCAPI) of Orbis central: XML-RPC, by POST to this
address with Content-Type text/xml. Pass an auth struct as the first argument of every call
except system.*; for example, in Python:
<code>xmlrpc.client.ServerProxy(url, allow_none=True).GetSites({"AuthMethod": "anonymous"})</code>.</p>
{{if .Methods}}<h2>Methods</h2><dl>{{range .Methods}}<dt><code>{{.Name}}</code></dt><dd>{{.Help}}</dd>{{end}}</dl>
{{else}}<p><a href="?methods">The list of methods</a> ({{.Count}}).</p>{{end}}
</body></html>
`

// page writes the HTML page, with every method's help under ?methods.
func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Count   int
		Methods []*plc.Method
	}{Count: len(h.reg.Names()) + 4}
	if r.URL.Query().Has("methods") {
		for _, n := range h.reg.Names() {
			data.Methods = append(data.Methods, h.reg.Lookup(n))
		}
		for _, n := range []string{"system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall"} {
			data.Methods = append(data.Methods, h.lookup(n))
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	if err := pageTmpl().Execute(w, data); err != nil {
		h.log.Debug("write PLCAPI page", "err", err)
	}
}
