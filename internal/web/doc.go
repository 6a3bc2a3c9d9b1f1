// Package web is the professionals' web application of mssante (issue 10): an MSSanté inbox
// served by `mssante serve` under /app/, on top of the intermediate LPS server's Pro Santé Connect
// session (internal/server). It is a delivery layer: it reads the local mail index
// (internal/mailstore), the known patients (internal/patients) and the directory
// (internal/annuaire), writes the audit trail (internal/audit), and reaches the operator through
// the Operator interface, which cmd/mssante wires to internal/mailbox. It holds no MSSanté rule of
// its own.
//
// Routes (all under /app/, all behind a logged-in browser session):
//
//	GET  /app/                          the inbox (every mailbox of the professional, or ?mb=…)
//	GET  /app/inbox?mb=&folder=&sort=&thread=&q=&after=   message list (keyset pages)
//	GET  /app/mail/{account}/{uid}?folder=     one message (ECO.3.1.1–3.1.3, 3.1.6)
//	GET  /app/mail/{account}/{uid}/body?folder=&remote=   the sanitised HTML body (srcdoc source)
//	GET  /app/mail/{account}/{uid}/part/{n}?folder=       an attachment or a PDF (inline for PDF)
//	POST /app/mail/{account}/{uid}/mdn         answer=send|deny: the read receipt under "ask"
//	GET  /app/patients, /app/patient/{ins}     known patients; one patient across the mailboxes
//	GET  /app/compose, POST /app/compose       write (to/cc, patient, CDA, files, DSN/MDN, FIN)
//	GET  /app/directory?q=                     directory search (JSON for the script, else HTML)
//	POST /app/mailboxes                        add a mailbox (kept once a sync logged in to it)
//	POST /app/settings                         the read-receipt policy of the mailboxes
//	GET  /app/events                           text/event-stream: sync state and new mail
//	GET  /app/static/…                         the embedded stylesheet and script
//
// Decisions:
//
//   - Authorisation: a professional may open the mailboxes of their session (the PSC claims, or
//     the sandbox/Annuaire lookup of internal/server), those the Annuaire gives for their national
//     id (Options.Directory), and those they added and logged in to once with their own token
//     (kept in the table web_mailboxes). Every mailbox and message URL is checked against that
//     set; anything else answers 404 (the existence of another mailbox is not disclosed).
//   - CSRF: every form carries a token, an HMAC of the session key under a per-process secret,
//     checked on every POST, on top of the server's CrossOriginProtection and SameSite=Lax.
//   - CSP on every page: default-src 'self', no inline script (one external ES module), no
//     inline style, frame-ancestors 'none'. A mail's HTML is sanitised with bluemonday, then shown
//     in an <iframe sandbox srcdoc> (no allow-scripts, no allow-same-origin) whose own meta CSP is
//     default-src 'none'; remote images are removed unless the professional asks for them for
//     that message (img-src then also allows https: on that page only).
//   - No token ever reaches the browser: the session's token function is handed to the Operator
//     in the process.
//   - Sync: while a session lives, one worker per session synchronises its mailboxes
//     (Operator.Sync) every Options.SyncInterval and at once when IDLE reports new mail
//     (Operator.Watch); its state ("à jour il y a 1 min", or the error) is on every page and pushed
//     to the script by /app/events.
//   - Read receipts (ECO.3.1.6): displaying a message that asks for one calls
//     Operator.Displayed (mailbox.Account.Displayed): the account's policy of the mail index
//     (never, ask, always; `mssante mail settings` sets the same) decides, the receipt is queued
//     once in the durable outbox and the mail flagged $MDNSent; under "ask" the page offers
//     "envoyer" / "ne pas l'envoyer".
//   - Audit: every action (list, read, send, read receipt, mailbox added) is appended to the trail
//     with the professional's national id as author and the mailbox as account.
package web
