package mailstore

import (
	"fmt"

	"github.com/mssante/mssante/internal/store"
)

// Package is the name of this package's schema in the store's migrations table.
const Package = "mail"

// Migrations returns the schema of the local mail index and of the mail settings
// (settings.go), for store.Open.
func Migrations() []store.Migration {
	return []store.Migration{
		{Package: Package, Version: 1, SQL: schemaSQLite, Postgres: schemaPostgres},
		// ReportsFor matches a DSN by its Original-Envelope-Id too.
		{Package: Package, Version: 2, SQL: `CREATE INDEX mail_reports_envelope ON mail_reports (original_envelope_id)`},
		// SQLite: the full text of new messages is written by their transaction (indexTextTx), in
		// one statement, instead of by a trigger per row: FTS5 flushes its pending terms at every
		// statement savepoint, so the trigger wrote one tiny segment per message and merged them.
		{Package: Package, Version: 3, SQL: `DROP TRIGGER mail_messages_fts_insert`, Postgres: `SELECT 1`},
		// SQLite: bodies in pack files beside the database (packs); the rows say where.
		// PostgreSQL has the table too but keeps its bodies in mail_bodies.
		{Package: Package, Version: 4, SQL: `CREATE TABLE mail_body_files (
	message_ref BIGINT PRIMARY KEY REFERENCES mail_messages(id) ON DELETE CASCADE,
	pack        TEXT NOT NULL,
	pos         BIGINT NOT NULL,
	len_bytes   BIGINT NOT NULL,
	crc32c      BIGINT NOT NULL
);
CREATE INDEX mail_body_files_pack ON mail_body_files (pack)`},
		settingsMigration,
	}
}

// The two schemas differ only in ids, blobs and full text: SQLite FTS5 as an external-content
// table kept by triggers (since version 3, new rows by indexTextTx instead), PostgreSQL a generated tsvector ('french') under a GIN index.
// Times are RFC 3339 UTC text of fixed width (timeFormat), so that they sort as text.
const schemaCommon = `
CREATE TABLE mail_folders (
	id            %[1]s,
	account_id    BIGINT NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	uidvalidity   BIGINT NOT NULL DEFAULT 0,
	highestmodseq BIGINT NOT NULL DEFAULT 0,
	uidnext       BIGINT NOT NULL DEFAULT 0,
	synced_at     TEXT NOT NULL DEFAULT '',
	last_error    TEXT NOT NULL DEFAULT '',
	UNIQUE (account_id, name)
);
CREATE TABLE mail_messages (
	id                  %[1]s,
	account_id          BIGINT NOT NULL REFERENCES mail_accounts(id) ON DELETE CASCADE,
	folder_id           BIGINT NOT NULL REFERENCES mail_folders(id) ON DELETE CASCADE,
	uid                 BIGINT NOT NULL,
	uidvalidity         BIGINT NOT NULL,
	message_id          TEXT NOT NULL DEFAULT '',
	date                TEXT NOT NULL DEFAULT '',
	internal_date       TEXT NOT NULL DEFAULT '',
	from_addr           TEXT NOT NULL DEFAULT '',
	from_name           TEXT NOT NULL DEFAULT '',
	sender_kind         TEXT NOT NULL DEFAULT 'professional',
	patient_birth_name  TEXT NOT NULL DEFAULT '',
	patient_given_names TEXT NOT NULL DEFAULT '',
	patient_ins         TEXT NOT NULL DEFAULT '',
	subject             TEXT NOT NULL DEFAULT '',
	display_subject     TEXT NOT NULL DEFAULT '',
	flags               TEXT NOT NULL DEFAULT '',
	seen                INTEGER NOT NULL DEFAULT 0,
	size                BIGINT NOT NULL DEFAULT 0,
	modseq              BIGINT NOT NULL DEFAULT 0,
	thread_id           TEXT NOT NULL DEFAULT '',
	sort_sender         TEXT NOT NULL DEFAULT '',
	sort_subject        TEXT NOT NULL DEFAULT '',
	sort_patient        TEXT NOT NULL DEFAULT '',
	has_body            INTEGER NOT NULL DEFAULT 0,
	warnings            TEXT NOT NULL DEFAULT '',
	search_text         TEXT NOT NULL DEFAULT '',
	UNIQUE (folder_id, uid)
);
CREATE INDEX mail_messages_date ON mail_messages (account_id, date, id);
CREATE INDEX mail_messages_folder_date ON mail_messages (folder_id, date, id);
CREATE INDEX mail_messages_folder_sender ON mail_messages (folder_id, sort_sender, id);
CREATE INDEX mail_messages_folder_subject ON mail_messages (folder_id, sort_subject, id);
CREATE INDEX mail_messages_folder_patient ON mail_messages (folder_id, sort_patient, id);
CREATE INDEX mail_messages_folder_unseen ON mail_messages (folder_id, seen);
CREATE INDEX mail_messages_message_id ON mail_messages (account_id, message_id);
CREATE INDEX mail_messages_thread ON mail_messages (account_id, thread_id, date);
CREATE INDEX mail_messages_patient_ins ON mail_messages (patient_ins);
CREATE TABLE mail_bodies (
	message_ref BIGINT PRIMARY KEY REFERENCES mail_messages(id) ON DELETE CASCADE,
	body        %[2]s NOT NULL
);
CREATE TABLE mail_refs (
	message_ref BIGINT NOT NULL REFERENCES mail_messages(id) ON DELETE CASCADE,
	ref         TEXT NOT NULL,
	PRIMARY KEY (message_ref, ref)
);
CREATE INDEX mail_refs_ref ON mail_refs (ref);
CREATE TABLE mail_documents (
	id            %[1]s,
	message_ref   BIGINT NOT NULL REFERENCES mail_messages(id) ON DELETE CASCADE,
	seq           INTEGER NOT NULL,
	type_code     TEXT NOT NULL DEFAULT '',
	type_label    TEXT NOT NULL DEFAULT '',
	patient_id    TEXT NOT NULL DEFAULT '',
	patient_ins   TEXT NOT NULL DEFAULT '',
	patient_oid   TEXT NOT NULL DEFAULT '',
	known_patient BIGINT NOT NULL DEFAULT 0,
	unique_id     TEXT NOT NULL DEFAULT '',
	title         TEXT NOT NULL DEFAULT '',
	level         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mail_documents_message ON mail_documents (message_ref);
CREATE INDEX mail_documents_ins ON mail_documents (patient_ins);
CREATE TABLE mail_reports (
	id                   %[1]s,
	message_ref          BIGINT NOT NULL REFERENCES mail_messages(id) ON DELETE CASCADE,
	kind                 TEXT NOT NULL,
	recipient            TEXT NOT NULL DEFAULT '',
	action               TEXT NOT NULL DEFAULT '',
	status               TEXT NOT NULL DEFAULT '',
	disposition          TEXT NOT NULL DEFAULT '',
	reason               TEXT NOT NULL DEFAULT '',
	original_message_id  TEXT NOT NULL DEFAULT '',
	original_envelope_id TEXT NOT NULL DEFAULT '',
	failed               INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mail_reports_message ON mail_reports (message_ref);
CREATE INDEX mail_reports_original ON mail_reports (original_message_id);
`

var schemaSQLite = `CREATE TABLE mail_accounts (id INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE);
` + fmt.Sprintf(schemaCommon, "INTEGER PRIMARY KEY", "BLOB") + `
CREATE VIRTUAL TABLE mail_fts USING fts5(search_text, content='mail_messages', content_rowid='id',
	tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER mail_messages_fts_insert AFTER INSERT ON mail_messages BEGIN
	INSERT INTO mail_fts (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER mail_messages_fts_delete AFTER DELETE ON mail_messages BEGIN
	INSERT INTO mail_fts (mail_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END;
CREATE TRIGGER mail_messages_fts_update AFTER UPDATE OF search_text ON mail_messages BEGIN
	INSERT INTO mail_fts (mail_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
	INSERT INTO mail_fts (rowid, search_text) VALUES (new.id, new.search_text);
END;
`

var schemaPostgres = `CREATE TABLE mail_accounts (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, address TEXT NOT NULL UNIQUE);
` + fmt.Sprintf(schemaCommon, "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BYTEA") + `
ALTER TABLE mail_messages ADD COLUMN search_tsv tsvector
	GENERATED ALWAYS AS (to_tsvector('french', search_text)) STORED;
CREATE INDEX mail_messages_fts ON mail_messages USING GIN (search_tsv);
`
