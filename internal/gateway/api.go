package gateway

import (
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/store"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the REST API.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// maxBody bounds a request body (documents come base64-encoded in JSON).
const maxBody = 64 << 20

// Handler returns the HTTP handler of the gateway: /healthz, /readyz, /metrics and /api/v1.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", g.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	mux.HandleFunc("POST /api/v1/messages", g.auth(g.postMessage))
	mux.HandleFunc("GET /api/v1/messages/{id}", g.auth(g.getMessage))
	mux.HandleFunc("GET /api/v1/documents", g.auth(g.listDocuments))
	mux.HandleFunc("GET /api/v1/documents/{id}/{part}", g.auth(g.getDocumentPart))
	mux.HandleFunc("POST /api/v1/documents/{id}/ack", g.auth(g.ackDocument))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, r, http.StatusNotFound, "Ressource inconnue", "aucune ressource à cette adresse de l'API")
	})
	return mux
}

type authed func(w http.ResponseWriter, r *http.Request, mailbox string)

func (g *Gateway) auth(h authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		mb, err := g.caller(r)
		if err != nil {
			if errors.Is(err, errUnauthenticated) || errors.Is(err, errBadKey) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="mssante-gateway"`)
				problem(w, r, http.StatusUnauthorized, "Non authentifié", err.Error())
				return
			}
			g.internal(w, r, err)
			return
		}
		h(w, r, mb)
	}
}

func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	var missing []string
	if err := g.db.SQL().PingContext(r.Context()); err != nil {
		missing = append(missing, "base de données injoignable")
	}
	g.readyMu.Lock()
	for _, mb := range g.o.Mailboxes {
		if !g.ready["sync:"+canon(mb.Address)] {
			missing = append(missing, "boîte "+canon(mb.Address)+" pas encore synchronisée")
		}
	}
	g.readyMu.Unlock()
	if len(missing) > 0 {
		problem(w, r, http.StatusServiceUnavailable, "Pas prêt", strings.Join(missing, " ; "))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (g *Gateway) postMessage(w http.ResponseWriter, r *http.Request, mailbox string) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		problem(w, r, http.StatusBadRequest, "Corps illisible", "le corps n'est pas le JSON attendu : "+err.Error())
		return
	}
	if req.From != "" && canon(req.From) != canon(mailbox) {
		problem(w, r, http.StatusForbidden, "Boîte non autorisée", fmt.Sprintf("la clé ne donne pas accès à la boîte %s", req.From))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 {
		problem(w, r, http.StatusBadRequest, "Clé d'idempotence trop longue", "l'en-tête Idempotency-Key dépasse 200 caractères")
		return
	}
	s, err := g.Send(r.Context(), mailbox, &req, key)
	switch {
	case errors.Is(err, ErrConflict):
		problem(w, r, http.StatusUnprocessableEntity, "Clé d'idempotence réutilisée", "cette clé Idempotency-Key a déjà servi pour une autre requête")
		return
	case errors.Is(err, ErrInvalid):
		problem(w, r, http.StatusUnprocessableEntity, "Message refusé", err.Error())
		return
	case err != nil:
		g.internal(w, r, err)
		return
	}
	if s.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/api/v1/messages/"+strconv.FormatInt(s.ID, 10))
	writeJSON(w, http.StatusAccepted, s)
}

// messageView is GET /api/v1/messages/{id}.
type messageView struct {
	ID         int64          `json:"id"`
	MessageID  string         `json:"message_id"`
	Mailbox    string         `json:"mailbox"`
	Recipients []string       `json:"recipients"`
	State      outbox.State   `json:"state"`
	Reason     string         `json:"reason,omitempty"`
	Attempts   int            `json:"attempts"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	Timeline   []timelineItem `json:"timeline"`
}

type timelineItem struct {
	At      time.Time    `json:"at"`
	State   outbox.State `json:"state"`
	Reason  string       `json:"reason,omitempty"`
	Attempt int          `json:"attempt"`
}

func (g *Gateway) getMessage(w http.ResponseWriter, r *http.Request, mailbox string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		problem(w, r, http.StatusNotFound, "Message inconnu", "identifiant de message invalide")
		return
	}
	st, err := g.Status(r.Context(), mailbox, id)
	if errors.Is(err, outbox.ErrNotFound) {
		problem(w, r, http.StatusNotFound, "Message inconnu", fmt.Sprintf("aucun message %d de la boîte %s", id, mailbox))
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	v := messageView{ID: st.ID, MessageID: st.MessageID, Mailbox: st.Account, Recipients: st.Rcpts, State: st.State,
		Reason: st.Reason, Attempts: st.Attempts, CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt, Timeline: []timelineItem{}}
	for _, e := range st.Timeline {
		v.Timeline = append(v.Timeline, timelineItem{At: e.At, State: e.State, Reason: e.Reason, Attempt: e.Attempt})
	}
	writeJSON(w, http.StatusOK, v)
}

func (g *Gateway) listDocuments(w http.ResponseWriter, r *http.Request, mailbox string) {
	q := r.URL.Query()
	if m := q.Get("mailbox"); m != "" && canon(m) != canon(mailbox) {
		problem(w, r, http.StatusForbidden, "Boîte non autorisée", fmt.Sprintf("la clé ne donne pas accès à la boîte %s", m))
		return
	}
	where := []string{"d.account = ?"}
	args := []any{canon(mailbox)}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			problem(w, r, http.StatusBadRequest, "Paramètre invalide", "since doit être une date RFC 3339 (2026-12-02T10:00:00Z)")
			return
		}
		where = append(where, "d.received_at >= ?")
		args = append(args, formatTime(t))
	}
	if ins := q.Get("patient_ins"); ins != "" {
		where = append(where, "d.ins = ?")
		args = append(args, ins)
	}
	limit := 500
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 5000 {
			problem(w, r, http.StatusBadRequest, "Paramètre invalide", "limit doit être un entier de 1 à 5000")
			return
		}
		limit = n
	}
	if a := q.Get("after"); a != "" {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			problem(w, r, http.StatusBadRequest, "Paramètre invalide", "after doit être un identifiant de document")
			return
		}
		where = append(where, "d.id > ?")
		args = append(args, n)
	}
	args = append(args, limit)
	rows, err := g.db.QueryContext(r.Context(), `SELECT `+docCols+` FROM gateway_documents d WHERE `+strings.Join(where, " AND ")+
		` ORDER BY d.id LIMIT ?`, args...)
	if err != nil {
		g.internal(w, r, err)
		return
	}
	defer rows.Close()
	docs := []Document{}
	for rows.Next() {
		d, err := scanDocument(rows, false)
		if err != nil {
			g.internal(w, r, err)
			return
		}
		docs = append(docs, d)
	}
	if err := rows.Err(); err != nil {
		g.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"documents": docs})
}

// document loads document {id} of mailbox, answering 404 itself when it is not one.
func (g *Gateway) document(w http.ResponseWriter, r *http.Request, mailbox string, content bool) (Document, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		var d Document
		d, err = g.loadDocument(r.Context(), id, content)
		if err == nil && canon(d.Mailbox) == canon(mailbox) {
			return d, true
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			g.internal(w, r, err)
			return Document{}, false
		}
	}
	problem(w, r, http.StatusNotFound, "Document inconnu", fmt.Sprintf("aucun document %s reçu par la boîte %s", r.PathValue("id"), mailbox))
	return Document{}, false
}

func (g *Gateway) getDocumentPart(w http.ResponseWriter, r *http.Request, mailbox string) {
	part := r.PathValue("part")
	if part != "cda" && part != "pdf" && part != "message" {
		problem(w, r, http.StatusNotFound, "Ressource inconnue", "parties disponibles : cda, pdf, message")
		return
	}
	d, ok := g.document(w, r, mailbox, true)
	if !ok {
		return
	}
	var ct string
	var data []byte
	switch part {
	case "cda":
		ct, data = "application/xml", d.CDA
	case "pdf":
		ct, data = "application/pdf", d.PDF
	default:
		ct, data = "message/rfc822", d.Mail
	}
	if len(data) == 0 {
		problem(w, r, http.StatusNotFound, "Partie absente", "le message reçu ne contenait pas de rendu PDF pour ce document")
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// AckRequest is the body of POST /api/v1/documents/{id}/ack.
type AckRequest struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

func (g *Gateway) ackDocument(w http.ResponseWriter, r *http.Request, mailbox string) {
	var a AckRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		problem(w, r, http.StatusBadRequest, "Corps illisible", "le corps n'est pas le JSON attendu : "+err.Error())
		return
	}
	switch {
	case a.State != AckIntegrated && a.State != AckRejected:
		problem(w, r, http.StatusUnprocessableEntity, "Acquittement invalide", "state doit valoir integrated ou rejected")
		return
	case a.State == AckRejected && strings.TrimSpace(a.Reason) == "":
		problem(w, r, http.StatusUnprocessableEntity, "Acquittement invalide", "un rejet doit donner sa raison (reason)")
		return
	}
	d, ok := g.document(w, r, mailbox, false)
	if !ok {
		return
	}
	err := g.db.InTx(r.Context(), func(tx *store.Tx) error { return g.ack(r.Context(), tx, d, a.State, a.Reason) })
	if errors.Is(err, errAlreadyAcked) {
		problem(w, r, http.StatusConflict, "Déjà acquitté", fmt.Sprintf("le document %d a déjà été acquitté", d.ID))
		return
	}
	if err != nil {
		g.internal(w, r, err)
		return
	}
	d, _ = g.loadDocument(r.Context(), d.ID, false)
	writeJSON(w, http.StatusOK, d)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
}

func problem(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Instance: r.URL.Path})
}

func (g *Gateway) internal(w http.ResponseWriter, r *http.Request, err error) {
	g.log.Error("api", "path", r.URL.Path, "err", err)
	problem(w, r, http.StatusInternalServerError, "Erreur interne", "la passerelle n'a pas pu traiter la requête ; réessayez plus tard")
}
