package gateway

import (
	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/internal/patients"
	"github.com/mssante/mssante/internal/store"
)

// Package is the name of this package's schema in the store's migrations.
const Package = "gateway"

// schema is the gateway's own tables. Times are RFC 3339 UTC text; ids are read back with
// RETURNING. Every uniqueness the gateway promises ("nothing twice") is a UNIQUE constraint here.
var schema = []store.Migration{{
	Package: Package,
	Version: 1,
	SQL: `
CREATE TABLE gateway_keys (
	hash       TEXT PRIMARY KEY,
	mailbox    TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE TABLE gateway_requests (
	mailbox     TEXT NOT NULL,
	idem_key    TEXT NOT NULL,
	body_hash   TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	outbox_id   BIGINT,
	created_at  TEXT NOT NULL,
	PRIMARY KEY (mailbox, idem_key)
);
CREATE TABLE gateway_leases (
	name        TEXT PRIMARY KEY,
	owner       TEXT NOT NULL,
	until       TEXT NOT NULL
);
CREATE TABLE gateway_ingested (
	account     TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	at          TEXT NOT NULL,
	PRIMARY KEY (account, message_id)
);
CREATE TABLE gateway_messages (
	id          INTEGER PRIMARY KEY,
	account     TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	raw         BLOB NOT NULL,
	UNIQUE (account, message_id)
);
CREATE TABLE gateway_documents (
	id           INTEGER PRIMARY KEY,
	account      TEXT NOT NULL,
	message_id   TEXT NOT NULL,
	document_id  TEXT NOT NULL,
	mail         BIGINT NOT NULL,
	received_at  TEXT NOT NULL,
	sender       TEXT NOT NULL,
	sender_kind  TEXT NOT NULL,
	subject      TEXT NOT NULL,
	patient      TEXT NOT NULL,
	ins          TEXT NOT NULL,
	identified   INTEGER NOT NULL,
	type_code    TEXT NOT NULL,
	type_label   TEXT NOT NULL,
	act_date     TEXT NOT NULL,
	replaces     TEXT NOT NULL,
	cda          BLOB NOT NULL,
	pdf          BLOB,
	ack_state    TEXT NOT NULL,
	ack_reason   TEXT NOT NULL,
	ack_at       TEXT NOT NULL,
	UNIQUE (account, message_id, document_id)
);
CREATE INDEX gateway_documents_ins ON gateway_documents (ins, received_at);
CREATE TABLE gateway_deliveries (
	document    BIGINT NOT NULL,
	target      TEXT NOT NULL,
	state       TEXT NOT NULL,
	attempts    INTEGER NOT NULL,
	next_at     TEXT NOT NULL,
	owner       TEXT NOT NULL,
	until       TEXT NOT NULL,
	reason      TEXT NOT NULL,
	done_at     TEXT NOT NULL,
	PRIMARY KEY (document, target)
);
CREATE INDEX gateway_deliveries_due ON gateway_deliveries (state, next_at);
CREATE TABLE gateway_events (
	id          INTEGER PRIMARY KEY,
	event_id    TEXT NOT NULL UNIQUE,
	mailbox     TEXT NOT NULL,
	body        TEXT NOT NULL,
	state       TEXT NOT NULL,
	attempts    INTEGER NOT NULL,
	next_at     TEXT NOT NULL,
	reason      TEXT NOT NULL,
	created_at  TEXT NOT NULL
);
CREATE INDEX gateway_events_pending ON gateway_events (mailbox, state, id);
CREATE TABLE gateway_outbox_seen (
	outbox_id   BIGINT PRIMARY KEY,
	state       TEXT NOT NULL
);
`,
	Postgres: `
CREATE TABLE gateway_keys (
	hash       TEXT PRIMARY KEY,
	mailbox    TEXT NOT NULL,
	created_at TEXT NOT NULL
);
CREATE TABLE gateway_requests (
	mailbox     TEXT NOT NULL,
	idem_key    TEXT NOT NULL,
	body_hash   TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	outbox_id   BIGINT,
	created_at  TEXT NOT NULL,
	PRIMARY KEY (mailbox, idem_key)
);
CREATE TABLE gateway_leases (
	name        TEXT PRIMARY KEY,
	owner       TEXT NOT NULL,
	until       TEXT NOT NULL
);
CREATE TABLE gateway_ingested (
	account     TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	at          TEXT NOT NULL,
	PRIMARY KEY (account, message_id)
);
CREATE TABLE gateway_messages (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account     TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	raw         BYTEA NOT NULL,
	UNIQUE (account, message_id)
);
CREATE TABLE gateway_documents (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account      TEXT NOT NULL,
	message_id   TEXT NOT NULL,
	document_id  TEXT NOT NULL,
	mail         BIGINT NOT NULL,
	received_at  TEXT NOT NULL,
	sender       TEXT NOT NULL,
	sender_kind  TEXT NOT NULL,
	subject      TEXT NOT NULL,
	patient      TEXT NOT NULL,
	ins          TEXT NOT NULL,
	identified   INTEGER NOT NULL,
	type_code    TEXT NOT NULL,
	type_label   TEXT NOT NULL,
	act_date     TEXT NOT NULL,
	replaces     TEXT NOT NULL,
	cda          BYTEA NOT NULL,
	pdf          BYTEA,
	ack_state    TEXT NOT NULL,
	ack_reason   TEXT NOT NULL,
	ack_at       TEXT NOT NULL,
	UNIQUE (account, message_id, document_id)
);
CREATE INDEX gateway_documents_ins ON gateway_documents (ins, received_at);
CREATE TABLE gateway_deliveries (
	document    BIGINT NOT NULL,
	target      TEXT NOT NULL,
	state       TEXT NOT NULL,
	attempts    INTEGER NOT NULL,
	next_at     TEXT NOT NULL,
	owner       TEXT NOT NULL,
	until       TEXT NOT NULL,
	reason      TEXT NOT NULL,
	done_at     TEXT NOT NULL,
	PRIMARY KEY (document, target)
);
CREATE INDEX gateway_deliveries_due ON gateway_deliveries (state, next_at);
CREATE TABLE gateway_events (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id    TEXT NOT NULL UNIQUE,
	mailbox     TEXT NOT NULL,
	body        TEXT NOT NULL,
	state       TEXT NOT NULL,
	attempts    INTEGER NOT NULL,
	next_at     TEXT NOT NULL,
	reason      TEXT NOT NULL,
	created_at  TEXT NOT NULL
);
CREATE INDEX gateway_events_pending ON gateway_events (mailbox, state, id);
CREATE TABLE gateway_outbox_seen (
	outbox_id   BIGINT PRIMARY KEY,
	state       TEXT NOT NULL
);
`,
}}

// Migrations returns every schema the gateway uses: the known patients, the local mail index,
// the outbox and its own tables, for store.Open.
func Migrations() []store.Migration {
	var m []store.Migration
	m = append(m, patients.Migrations...)
	m = append(m, mailstore.Migrations()...)
	m = append(m, outbox.Migrations...)
	return append(m, schema...)
}
