package push

import "net/http"

// AuthenticateNode checks a node request's signature exactly as the node
// channel's own calls are checked (replay window, nonce, HMAC), for other
// node calls mounted beside the channel (software distribution), and
// returns the node and the body read whole up to limit.
func (h *Handler) AuthenticateNode(w http.ResponseWriter, r *http.Request, limit int64) (int64, []byte, error) {
	return h.authenticate(w, r, limit)
}

// AnswerError answers an error of AuthenticateNode as the node channel
// answers its own: refusals with their status, anything else as 503.
func (h *Handler) AnswerError(w http.ResponseWriter, r *http.Request, err error) {
	h.fail(w, r, err)
}
