package jsonapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
)

// maxLoginBody bounds the body of POST /api/v1/login.
const maxLoginBody = 64 << 10

// readArgs reads the JSON array of arguments, converting numbers as
// XML-RPC would decode them: integers (no fraction, no exponent) to int64,
// other numbers to float64. An empty body is no argument.
func readArgs(w http.ResponseWriter, r *http.Request) ([]any, int, *plc.Fault) {
	if status, f := checkRequest(r, MaxBodySize); f != nil {
		return nil, status, f
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodySize))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		if err == io.EOF {
			return nil, 0, nil
		}
		status, f := bodyError(err)
		return nil, status, f
	}
	if status, f := expectEOF(dec); f != nil {
		return nil, status, f
	}
	if raw == nil {
		return nil, 0, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, http.StatusBadRequest, plc.Faultf(plc.FaultInvalidArg, "the body must be a JSON array of the arguments, like [\"one_slice\", [1, 2]]")
	}
	args, err := convert(list, 0)
	if err != nil {
		return nil, http.StatusBadRequest, plc.Faultf(plc.FaultInvalidArg, "%v", err)
	}
	return args.([]any), 0, nil
}

// readObject reads a JSON object into v.
func readObject(w http.ResponseWriter, r *http.Request, v any) (int, *plc.Fault) {
	if status, f := checkRequest(r, maxLoginBody); f != nil {
		return status, f
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBody))
	if err := dec.Decode(v); err != nil {
		if err == io.EOF {
			return http.StatusBadRequest, plc.Faultf(plc.FaultInvalidArg, "empty body: send a JSON object")
		}
		return bodyError(err)
	}
	return expectEOF(dec)
}

// checkRequest refuses a body declared too large and a content type other
// than JSON (which also keeps browsers' cross-site form posts out).
func checkRequest(r *http.Request, limit int64) (int, *plc.Fault) {
	if r.ContentLength > limit {
		return http.StatusRequestEntityTooLarge, plc.Faultf(plc.FaultInvalidArg, "request body larger than %d bytes", limit)
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return 0, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return http.StatusUnsupportedMediaType, plc.Faultf(plc.FaultInvalidArg, "send the body as Content-Type: application/json")
	}
	return 0, nil
}

// expectEOF refuses anything after the first JSON value.
func expectEOF(dec *json.Decoder) (int, *plc.Fault) {
	var extra any
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return bodyError(err)
		}
		return http.StatusBadRequest, plc.Faultf(plc.FaultInvalidArg, "malformed JSON: more than one value in the body")
	}
	return 0, nil
}

// bodyError describes a body that could not be read.
func bodyError(err error) (int, *plc.Fault) {
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return http.StatusRequestEntityTooLarge, plc.Faultf(plc.FaultInvalidArg, "request body larger than %d bytes", mbe.Limit)
	}
	return http.StatusBadRequest, plc.Faultf(plc.FaultInvalidArg, "malformed JSON: %v", err)
}

// convert replaces json.Numbers in v by int64 or float64, refusing values
// nested deeper than plc.MaxDepth.
func convert(v any, depth int) (any, error) {
	switch v := v.(type) {
	case json.Number:
		return number(v)
	case []any:
		if depth >= plc.MaxDepth {
			return nil, fmt.Errorf("values nested deeper than %d", plc.MaxDepth)
		}
		for i, e := range v {
			c, err := convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			v[i] = c
		}
	case map[string]any:
		if depth >= plc.MaxDepth {
			return nil, fmt.Errorf("values nested deeper than %d", plc.MaxDepth)
		}
		for k, e := range v {
			c, err := convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			v[k] = c
		}
	}
	return v, nil
}

// number is an integer literal as int64, any other number as float64.
func number(n json.Number) (any, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("integer %s is out of the 64-bit range", s)
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("number %s is out of range", s)
	}
	return f, nil
}

// statusOf is the HTTP status of fault f, which err became: 400 for a bad
// call (100, 101, 102), 401 (103), 403 (108), 501 (109); 409 for a store
// conflict and for a fault 111 the method chose (PLCAPI's "API error" is
// a refused state change, such as a site at its max_slices); 404 for a
// record not found; 500 for an internal error or a database fault (106).
func statusOf(f *plc.Fault, err error) int {
	switch {
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	}
	switch f.Code {
	case plc.FaultInvalidMethod, plc.FaultArgCount, plc.FaultInvalidArg:
		return http.StatusBadRequest
	case plc.FaultAuth:
		return http.StatusUnauthorized
	case plc.FaultPermission:
		return http.StatusForbidden
	case plc.FaultNotImpl:
		return http.StatusNotImplemented
	case plc.FaultAPI:
		if !plc.IsInternal(err) {
			return http.StatusConflict
		}
	}
	return http.StatusInternalServerError
}

// apiError is the body of every error answer.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, f *plc.Fault) {
	var e apiError
	e.Error.Code, e.Error.Message = f.Code, f.Msg
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="orbis"`)
	}
	b, _ := json.Marshal(e) // strings and ints always encode
	writeBody(w, status, b)
}

// writeResult answers 200 {"result": result}, or 500 if result cannot be
// encoded.
func (h *handler) writeResult(w http.ResponseWriter, method string, result any) {
	b, err := json.Marshal(struct {
		Result any `json:"result"`
	}{result})
	if err != nil {
		writeError(w, http.StatusInternalServerError, plc.AsFault(h.log, method, fmt.Errorf("encode result: %w", err)))
		return
	}
	writeBody(w, http.StatusOK, b)
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
