// Package mailstore is the local copy of the MSSanté mailboxes: a sync engine that brings each
// folder of an account into the store (internal/store, SQLite embedded or PostgreSQL shared), and
// an index of what the screens and the API need without parsing a mail again (ECO.1.0.2,
// ECO.3.1.2, ECO.3.1.3, ECO.3.2.1–3.2.3).
//
//	db, err := store.Open(ctx, store.DefaultURL(dataDir), mailstore.Migrations()...)
//	ms := mailstore.New(db, &mailstore.Options{Patients: known})
//	sum, err := ms.Sync(ctx, imapClient, "marie.martin@medecin.mssante.fr", nil)
//	page, err := ms.List(ctx, mailstore.Query{Accounts: []string{addr}, Sort: mailstore.SortPatient})
//	docs, err := ms.DocumentsOf(ctx, "279035121518989")
//	reports, err := ms.ReportsFor(ctx, sentMessageID)
//
// What is indexed, once, at sync time, with the rules of the message package (message.Parse):
// sender kind, the patient's birth name, first name and INS for a Mon espace santé sender
// (ECO.3.1.2), the subject without the XDM prefix (ECO.3.1.3), the documents of IHE_XDM.zip (type
// code and label, METADATA.XML patientId with its INS and OID, unique id, the known patient of
// internal/patients with that INS), the thread (ECO.3.2.1), flags, size, the delivery reports
// (DSN, MDN, Mon espace santé's "Message non distribué") and a folded search text.
//
// Decisions:
//
//   - Bodies: PostgreSQL keeps them in the database (mail_bodies, BYTEA): several processes (the
//     web app, the gateway, a sync worker on another host) share one index, and a file tree
//     would have to be shared too, kept consistent with the rows by hand, and backed up apart.
//     SQLite, on one host, keeps them in append-only pack files beside the database
//     ("<database>-bodies/", packs), the rows saying where (mail_body_files: pack, offset,
//     length, CRC-32C): in SQLite's pages a body was written twice (WAL, then checkpoint) and
//     copied twice in its allocator, 30% of a first sync's wall time and 13 MiB of its peak
//     memory (bench/transport.sh). A group's bodies are appended and flushed before the
//     transaction that refers to them commits, so a committed message always has its body; a
//     body whose transaction did not commit is garbage, never read. A file per message (the
//     Maildir's way) would cost an inode each, the most expensive part of a Maildir.
//     Bodies are in their own table, or file, so that lists never read them. The Maildir writer
//     is an export, rebuilt from the index, never the source of truth.
//   - Memory and speed: a pipeline per folder (Sync's download) reads and parses the bodies
//     streamed by UID FETCH in one goroutine, commits them in groups (100 messages or 2 MiB) in a
//     second, and writes the Maildir files in a third; the bodies all stages hold together are
//     bounded (6 MiB; a bigger message waits until it is alone), so memory does not grow with the
//     mailbox. A message bigger than SyncOptions.MaxBody (64 MiB by default, the lps default too)
//     is indexed from its IMAP envelope only and its body left on the server (Message.HasBody
//     false): parsing needs the whole message in memory, and one such mail must not take the
//     process down.
//   - Crash safety: each new message is committed with its documents, reports and body (or the
//     place of its body) in the transaction of its group, and every group handed to the committer is committed (or has
//     failed) before the folder's state moves on, also when the sync is cancelled; a folder's
//     HIGHESTMODSEQ is written only after every message it announces is stored, so the next sync
//     asks again for anything not committed, and skips what was. Flag updates and removals are
//     idempotent. UIDNEXT is the highest UID stored plus one (Resync does not report the
//     server's). The Maildir is written after the commit without an fsync per file; it is
//     reconciled with the index at the end of each folder (a file missing or of the wrong size is
//     written again) and flushed then (syncfs on Linux): see Maildir.
//   - UIDVALIDITY change: the index's messages of the old value are found again among the
//     server's by Message-ID and size and re-mapped to their new UID (no download, no duplicate);
//     the others are removed and the new ones fetched.
//   - One sync per account at a time is the intended use. Two at once (two processes on one
//     PostgreSQL) never store a message twice (UNIQUE (folder, UID), ON CONFLICT DO NOTHING) but
//     may both fetch it.
//   - Removal: a message leaves the index only when the server says it is gone (VANISHED through
//     Resync's UID SEARCH, or absent from a full listing), a folder only when LIST no longer
//     shows it during a sync of every folder. A sync of named folders touches no other folder.
//   - Sender kinds: "patient" and the patient identity come from message.Parse; "mes_notice" is a
//     patient-domain address without a matricule (message.Parse's rule that such mails are Mon
//     espace santé itself); "applicative" a mail whose text carries message.Compose's closing
//     notice of an applicative mailbox (ECO.2.2.5); "professional" the rest.
//   - Threads: the first Message-ID of References, else In-Reply-To, else the message's own; it
//     depends on no other message, so arrival order does not matter.
//   - Sort keys (ECO.3.2.2) are fold.Words of the sender label, the display subject and the
//     patient name (the patient sender, else the known patient of a document, else the patient of
//     the first CDA header, else its INS); messages about no patient sort last.
//   - Full text: SQLite FTS5 (unicode61, diacritics removed) as an external-content table kept by
//     triggers; PostgreSQL a generated to_tsvector('french', …) column under a GIN index. The
//     indexed text is folded (fold.Words) in both, so that "resultat" finds "Résultats".
//   - Settings (settings.go): the account's mail settings, for now the read receipt policy
//     (never, ask, always) that mailbox.Displayed applies. A schema of its own
//     (SettingsPackage), keyed by address: the professional's choices outlive a rebuilt index.
//   - Pagination: Limit/Offset, or keyset (Query.After = Page.Next) on (sort key, id), which
//     costs the same on page 1 and page 1000.
package mailstore
