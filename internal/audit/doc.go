// Package audit keeps the functional trace of every operation on MSSanté mailboxes (ECO.4.1.1,
// ECO.4.1.2): who (the authenticated author), when (local time with its offset), what (the action),
// the request sent to the mail server and the server's answer, failures included.
//
// The trail is append-only and tamper-evident: each event carries the SHA-256 of its content and of
// the previous event's hash, so Verify finds a changed, inserted or removed record; a head record,
// written with each event, shows last events removed. Pruning at the
// end of the retention period (6 months by default, the referential's recommendation) keeps the
// hash of the last pruned event as the anchor the chain starts from. What no local chain can show is
// a rewrite of the whole trail by someone holding the database: Verify returns the head hash so an
// operator can anchor it elsewhere (a ticket, a signed mail) and compare later.
//
// The chain is serialised by the database, not by this process: Append runs in one store.InTx
// that locks the head record (SELECT … FOR UPDATE on PostgreSQL; on SQLite the transaction holds
// the write lock from BEGIN IMMEDIATE), computes the next hash, inserts the event and moves the
// head. Several processes sharing one database (mssante instances behind a load balancer on one
// PostgreSQL, or two commands on one SQLite file) therefore keep one linear chain. Verify and
// Export read one snapshot (store.InReadTx), so appends going on meanwhile do not look like
// tampering.
//
// Secrets never enter the trail: Append redacts SASL payloads (XOAUTH2, PLAIN, LOGIN), bearer
// tokens and anything shaped like a JWT before hashing and storing, whatever the caller passed.
//
// Usage:
//
//	db, _ := store.Open(ctx, store.DefaultURL(dataDir), audit.Migrations...) // or "postgres://…"
//	trail := audit.New(db, nil)
//	trail.Append(ctx, audit.Event{Author: "899700000001", Account: "marie.martin@…", Action: audit.ActionSend, …})
//	report, err := trail.Verify(ctx)
//	trail.Export(ctx, w, since)
package audit
