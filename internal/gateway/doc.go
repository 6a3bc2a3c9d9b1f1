// Package gateway is the delivery layer of applicative mailboxes (issue 13): software that sends
// and receives MSSanté documents (labs, hospitals, radiology, integration platforms) uses its REST
// API, its drop folders and its webhooks, and never sees SMTP, IMAP, XDM or PDF/A.
//
//	db, err := store.Open(ctx, url, gateway.Migrations()...)
//	g, err := gateway.New(db, gateway.Options{Mailboxes: []gateway.Mailbox{{Address: a, Conn: conn}},
//		OutboxDir: out, InboxDir: in, DoneFolder: "Traités"})
//	go g.Run(ctx)                              // outbox, sync + IDLE, deliveries, drops, webhooks
//	http.ListenAndServe(addr, g.Handler())     // /api/v1, /healthz, /readyz, /metrics
//
// # Sending
//
// A request (API POST /api/v1/messages, or a drop NAME.xml + NAME.json) is composed by package
// message (CDA → IHE XDM + PDF/A, the MSSanté subject and headers, the closing notice of an
// applicative mailbox) and stored in internal/outbox, whose workers submit it under a lease
// renewed while they send. The Message-ID is a function of the request's identity — the
// Idempotency-Key, or the drop id (a hash of the drop's files) — through the Rand of the
// composer, so composing it again after a crash gives the same Message-ID, and the outbox
// (UNIQUE account + Message-ID) stores it once. The idempotency row (key, body hash,
// Message-ID) is written before the outbox row: a retry with the same key and body after a
// crash between the two finishes the job; another body is ErrConflict (HTTP 422). The only
// duplicate left is the outbox's own window (a crash between the end of DATA and the recording
// of the answer), whose second copy carries the same Message-ID.
//
// # Receiving
//
// One loop per mailbox, at most Options.SyncConcurrency synchronising at once, holds a lease
// in gateway_leases (one process per mailbox at a time; another takes over when it expires):
// mailstore.Sync of the folder, outbox.Refresh with the index's delivery reports, then each
// indexed message is ingested in one transaction — the mail, its documents (UNIQUE account +
// Message-ID + document id: inbound deduplication), one pending delivery per target and the
// webhook events — and only then moved to Options.DoneFolder. A crash before the move leaves
// the message in the folder, ingested again as a no-op and moved at the next sync. A document
// whose patient has no valid INS is kept with Identified false (folder _inconnu/), never
// dropped. Then IDLE until news or a third of the lease.
//
// Deliveries (FolderDelivery for --inbox-dir; the HL7 file and MLLP deliveries of
// internal/hl7 plug into the Delivery interface) are leased per document and target and marked
// done only after Deliver returns, so Deliver must be idempotent: the folder delivery writes
// the same names (temporary file + rename) every time. An Outcome with an Ack records the
// record system's acknowledgement (integrated, or rejected with its reason), as POST
// /api/v1/documents/{id}/ack does.
//
// # Webhooks
//
// Events (document.received, document.integrated|rejected, message.<state>) are rows of
// gateway_events written in the transaction of the fact they announce, with a stable event_id
// for deduplication by the receiver. One poster per mailbox (under a lease) posts them in id
// order, signed with HMAC-SHA256 (SignatureHeader), and retries the oldest with capped
// exponential back-off until a 2xx: a later event never overtakes an earlier one of its
// mailbox. Outbox state changes are found by comparing the outbox with gateway_outbox_seen, so
// that changes made by another process or by a report are announced too.
//
// # Access
//
// API keys are 256 random bits (KeyPrefix + base64url), shown once by CreateKey; the store
// keeps their SHA-256 only, looked up by hash and compared in constant time. A key is scoped to
// one mailbox (another mailbox: 403; no key: 401). A verified TLS client certificate whose
// e-mail address (or CN) is a mailbox of the gateway is accepted instead of a key.
//
// # Seams
//
// The gateway talks to the operator through Connector (LPSConnector over lps today; an adapter
// of internal/mailbox.Account once that package exposes a sync Source and an outbox Sender),
// composes with package message directly (mailbox.Account has no compose-only call yet) and
// reads received documents with message and xdm (extract.go).
package gateway
