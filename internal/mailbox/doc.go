// Package mailbox is the application layer of one MSSanté mailbox (BAL): it joins lps (SMTP and
// IMAP sessions of the API LPS), message (composing and reading MSSanté mail), autoconfig
// (discovery), trust (the TLS policy), internal/patients (known patients), internal/audit (the
// functional trail, ECO.4.1.1) and the token sources of internal/psc or of the intermediate LPS
// server. cmd/mssante, the web app and the gateway call it; it holds no flag and reads no
// environment.
//
// Usual sequence:
//
//	acct, err := mailbox.New(mailbox.Options{
//		Address:     "dr.martin@test.mssante.fr",
//		Credentials: mailbox.Credentials{Tokens: mailbox.TokenFile(path)}, // or Certificate
//		Policy:      policy,                                              // trust.New(…)
//		Audit:       trail,                                               // *audit.Trail
//	})
//	defer acct.Close()
//	list, err := acct.List(ctx, "INBOX", &mailbox.ListOptions{Limit: 20})
//	mail, err := acct.Read(ctx, "INBOX", list.Messages[0].UID)
//	res, err := acct.Send(ctx, &mailbox.Draft{Draft: message.Draft{To: …, Text: …}}, nil)
//	err = acct.Watch(ctx, "INBOX", &mailbox.WatchOptions{OnEvent: print})
//
// Servers come from Options.SMTP/IMAP or from autoconfig (Discover). One IMAP and one SMTP
// session are kept per Account and reused by later calls (several SendRaw calls go over one SMTP
// session, pipelined by lps where the server offers PIPELINING); Watch opens its own IMAP session
// for IDLE. Every operation is traced in Options.Audit through the lps events.
//
// # Live synchronisation and read receipts
//
// SyncLive (live.go) keeps an internal/mailstore index up to date in the long-running modes
// (`mssante sync --watch`, the web app, the gateway): an incremental sync of every folder, then
// Watch's IDLE session on INBOX (WatchOptions.Changes: new mail, expunges and flag
// changes of other sessions) triggering a debounced sync of that folder, every folder again each
// LiveOptions.Every, failed folders retried with back-off (their error kept in the folder's
// state), one LiveChange per synchronisation that changed something.
//
// Displayed (displayed.go) is the one place where a read receipt asked by a received mail is
// decided (ECO.3.1.6): by the account's policy (mailstore.Settings: never, ask, always; ask by
// default), queued in the durable internal/outbox under a Message-ID derived from the account
// and the original (MDNMessageID), then $MDNSent set. The outbox key and the flag both keep it
// to one receipt, across processes and retries. MDN, which sends at once without the outbox,
// stays for the one-shot commands.
//
// # The patient recipient rule
//
// Whether a patient may be written to, and at which address, is decided here, in recipients.go:
// PatientAddress for a known patient (opposition refuses, even with the derogation; a qualified
// identity gives <matricule>@<patient domain>; otherwise only the temporary derogation of
// ECO.2.2.6) and TypedDerogation for a NIR typed for a patient the software does not know. Send
// resolves Draft.ToPatients with it and checks typed patient addresses against the known patients;
// SendRaw refuses an opposed patient; `mssante patients address` and `mssante ins address
// --derogation` call it. The pieces it combines stay with their data: patients (status,
// opposition, French refusals) and ins (matricule, key, traits, PatientAddress). message.Compose
// checks the content side (the documents' patient must be the recipient) with the identities
// this rule accepted (Draft.Patients).
//
// Errors: *AuthFailure for a refused authentication (the cause in French where the answer or the
// credentials tell it: "jeton expiré", "certificat révoqué"…, else the likely causes),
// *RecipientError for a refused recipient, *ProbeError for a failed connection test, and the lps
// and message errors wrapped.
package mailbox
