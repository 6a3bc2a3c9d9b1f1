package outbox

import "github.com/mssante/mssante/internal/store"

// Migrations is the schema of the outbox, for store.Open.
//
// outbox_messages holds each message as it will go on the wire (raw, with its Message-ID),
// its envelope and its state; lease_owner and lease_expires_at are the lease of the worker
// sending it; next_attempt_at is when a queued message is due. outbox_events is the timeline:
// one row per state change.
//
// Times are TEXT in one fixed-width UTC layout (timeLayout), so that text order is time order and
// the queries compare them as strings on both dialects.
var Migrations = []store.Migration{{
	Package: "outbox",
	Version: 1,
	SQL: `
CREATE TABLE outbox_messages (
	id               INTEGER PRIMARY KEY,
	account          TEXT    NOT NULL,
	message_id       TEXT    NOT NULL,
	mail_from        TEXT    NOT NULL,
	rcpts            TEXT    NOT NULL,
	dsn              TEXT    NOT NULL DEFAULT '',
	raw              BLOB    NOT NULL,
	size             BIGINT  NOT NULL,
	state            TEXT    NOT NULL,
	reason           TEXT    NOT NULL DEFAULT '',
	response         TEXT    NOT NULL DEFAULT '',
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt_at  TEXT    NOT NULL,
	lease_owner      TEXT    NOT NULL DEFAULT '',
	lease_expires_at TEXT    NOT NULL DEFAULT '',
	created_at       TEXT    NOT NULL,
	updated_at       TEXT    NOT NULL,
	UNIQUE (account, message_id)
);
CREATE INDEX outbox_messages_due ON outbox_messages (state, next_attempt_at);
CREATE INDEX outbox_messages_message_id ON outbox_messages (message_id);
CREATE TABLE outbox_events (
	id      INTEGER PRIMARY KEY,
	message BIGINT  NOT NULL REFERENCES outbox_messages (id),
	at      TEXT    NOT NULL,
	state   TEXT    NOT NULL,
	reason  TEXT    NOT NULL DEFAULT '',
	attempt INTEGER NOT NULL,
	owner   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_events_message ON outbox_events (message, id);
`,
	Postgres: `
CREATE TABLE outbox_messages (
	id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account          TEXT    NOT NULL,
	message_id       TEXT    NOT NULL,
	mail_from        TEXT    NOT NULL,
	rcpts            TEXT    NOT NULL,
	dsn              TEXT    NOT NULL DEFAULT '',
	raw              BYTEA   NOT NULL,
	size             BIGINT  NOT NULL,
	state            TEXT    NOT NULL,
	reason           TEXT    NOT NULL DEFAULT '',
	response         TEXT    NOT NULL DEFAULT '',
	attempts         INTEGER NOT NULL DEFAULT 0,
	next_attempt_at  TEXT    NOT NULL,
	lease_owner      TEXT    NOT NULL DEFAULT '',
	lease_expires_at TEXT    NOT NULL DEFAULT '',
	created_at       TEXT    NOT NULL,
	updated_at       TEXT    NOT NULL,
	UNIQUE (account, message_id)
);
CREATE INDEX outbox_messages_due ON outbox_messages (state, next_attempt_at);
CREATE INDEX outbox_messages_message_id ON outbox_messages (message_id);
CREATE TABLE outbox_events (
	id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	message BIGINT  NOT NULL REFERENCES outbox_messages (id),
	at      TEXT    NOT NULL,
	state   TEXT    NOT NULL,
	reason  TEXT    NOT NULL DEFAULT '',
	attempt INTEGER NOT NULL,
	owner   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_events_message ON outbox_events (message, id);
`,
}}
