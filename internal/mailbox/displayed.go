package mailbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
	"github.com/mssante/mssante/lps"
	"github.com/mssante/mssante/message"
)

// MDNAnswer is the professional's answer to the question the "ask" policy raises.
type MDNAnswer string

const (
	AnswerNone MDNAnswer = ""     // not asked yet: under "ask", Displayed only says so
	AnswerSend MDNAnswer = "send" // send the read receipt
	AnswerDeny MDNAnswer = "deny" // send none, and never ask again for this mail
)

// DisplayedOptions tune Displayed; nil means no answer given.
type DisplayedOptions struct {
	// Answer is the professional's answer under the "ask" policy (or to send a receipt that
	// "always" does not send by itself, see Displayed); ignored under "never".
	Answer MDNAnswer
}

// The outcomes of Displayed.
const (
	OutcomeQueued   = "queued"   // the receipt is in the durable outbox (outbox run sends it)
	OutcomeAlready  = "already"  // answered before ($MDNSent, or the outbox holds its receipt)
	OutcomeAsk      = "ask"      // the professional must answer: call again with an Answer
	OutcomeDeclined = "declined" // no receipt ("never", or denied): $MDNSent set
	OutcomeNone     = "none"     // the mail asks for no receipt, or is itself a report
)

// DisplayedResult is what Displayed did.
type DisplayedResult struct {
	Folder    string              `json:"folder"`
	UID       uint32              `json:"uid"`
	MessageID string              `json:"message_id,omitempty"`
	Policy    mailstore.MDNPolicy `json:"policy"`
	Outcome   string              `json:"outcome"`
	Reason    string              `json:"reason,omitempty"`
	// MDNMessageID and OutboxID name the receipt (queued or already there).
	MDNMessageID string `json:"mdn_message_id,omitempty"`
	OutboxID     int64  `json:"outbox_id,omitempty"`
	To           string `json:"to,omitempty"`
	// Flagged: $MDNSent is set on the server.
	Flagged bool `json:"flagged"`
}

// Displayed is called when the professional (or the program) has displayed message uid of
// folder, as the local store ms holds it: if the mail asks for a read receipt, the account's
// policy (ms.Settings) decides (ECO.3.1.6). The receipt (message.BuildMDN) is queued in the
// durable outbox ob under a Message-ID derived from the account and the original's Message-ID
// (MDNMessageID), then the original is flagged $MDNSent (RFC 3503) on the server and in the
// store. It is sent once: a mail flagged $MDNSent is never answered, and a second queueing —
// another process, a retry after a failure before the flag, two displays at once — finds the
// receipt in the outbox already (outbox.Add stores one message per account and Message-ID). A
// mail that is itself a report (DSN, MDN, bounce) is never answered.
//
// Under "always", a mail whose Disposition-Notification-To is not its Return-Path (when it has
// one) gets the
// "ask" outcome instead, unless the Answer is send (RFC 8098 §2.1: such a receipt is not sent
// without the user's consent).
func (a *Account) Displayed(ctx context.Context, ms *mailstore.Store, ob *outbox.Outbox, folder string, uid uint32, o *DisplayedOptions) (*DisplayedResult, error) {
	var answer MDNAnswer
	if o != nil {
		answer = o.Answer
	}
	switch answer {
	case AnswerNone, AnswerSend, AnswerDeny:
	default:
		return nil, fmt.Errorf("read receipt: unknown answer %q (send, deny)", answer)
	}
	m, err := ms.Get(ctx, a.o.Address, folder, uid)
	if err != nil {
		return nil, err
	}
	res := &DisplayedResult{Folder: folder, UID: uid, MessageID: m.MessageID}
	raw, err := ms.Body(ctx, m)
	if errors.Is(err, mailstore.ErrNotFound) { // over the size cap: only its envelope is local
		var buf bytes.Buffer
		if _, err := a.Fetch(ctx, folder, uid, &buf); err != nil {
			return nil, err
		}
		raw = buf.Bytes()
	} else if err != nil {
		return nil, err
	}
	orig, err := message.Parse(raw, &message.ReadOptions{PatientDomain: a.o.PatientDomain})
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", uid, err)
	}
	switch {
	case len(orig.Reports) > 0:
		res.Outcome, res.Reason = OutcomeNone, "the mail is a delivery report or a read receipt"
		return res, nil
	case !orig.MDNRequested || len(orig.MDNTo) == 0:
		res.Outcome, res.Reason = OutcomeNone, "the mail asks for no read receipt"
		return res, nil
	}
	res.To = orig.MDNTo[0].Addr
	set, err := ms.Settings(ctx, a.o.Address)
	if err != nil {
		return nil, err
	}
	res.Policy = set.MDN
	if hasFlagFold(m.Flags, lps.FlagMDNSent) {
		res.Outcome, res.Reason, res.Flagged = OutcomeAlready, "$MDNSent is set", true
		return res, nil
	}
	send := false
	switch set.MDN {
	case mailstore.MDNNever:
		res.Reason = "policy never"
	case mailstore.MDNAsk:
		if answer == AnswerNone {
			res.Outcome = OutcomeAsk
			return res, nil
		}
		send = answer == AnswerSend
		res.Reason = "denied by the user"
	case mailstore.MDNAlways:
		send = answer != AnswerDeny
		if rp := returnPath(raw); send && answer == AnswerNone && rp != "" && !strings.EqualFold(rp, res.To) {
			res.Outcome, res.Reason = OutcomeAsk, "the receipt address is not the Return-Path (RFC 8098 §2.1)"
			return res, nil
		}
		if !send {
			res.Reason = "denied by the user"
		}
	}
	res.Outcome = OutcomeDeclined
	if send {
		if err := a.queueMDN(ctx, ob, orig, raw, res); err != nil {
			return nil, err
		}
		res.Reason = ""
	}
	// The receipt is committed in the outbox (or none is due): now the flag.
	if err := a.Flag(ctx, folder, []uint32{uid}, lps.FlagsAdd, lps.FlagMDNSent); err != nil {
		return res, fmt.Errorf("read receipt of message %d %s, but $MDNSent not set (Displayed again sets it, the receipt is not queued twice): %w", uid, res.Outcome, err)
	}
	res.Flagged = true
	if err := ms.AddFlag(ctx, a.o.Address, folder, uid, lps.FlagMDNSent); err != nil {
		return res, err
	}
	return res, nil
}

// queueMDN builds the receipt under its derived Message-ID and adds it to the outbox.
func (a *Account) queueMDN(ctx context.Context, ob *outbox.Outbox, orig *message.Message, raw []byte, res *DisplayedResult) error {
	seed := mdnSeed(a.o.Address, orig.MessageID, raw)
	want := mdnID(seed, a.o.Address)
	c, err := message.BuildMDN(orig, message.Address{Addr: a.o.Address},
		&message.Options{NIL: a.o.NIL, PatientDomain: a.o.PatientDomain, Now: a.o.Now, Rand: newSeedStream(seed)})
	if err != nil {
		return fmt.Errorf("read receipt for message %d: %w", res.UID, err)
	}
	if c.MessageID != want {
		// message.BuildMDN no longer takes its Message-ID first from Rand: a receipt under
		// another id could go twice, so none goes.
		return fmt.Errorf("read receipt for message %d: Message-ID %s is not the derived %s", res.UID, c.MessageID, want)
	}
	e, err := ob.Add(ctx, outbox.Message{Account: a.o.Address, From: a.o.Address, Rcpts: []string{res.To}, Raw: c.Data})
	if err != nil {
		return fmt.Errorf("queueing the read receipt of message %d: %w", res.UID, err)
	}
	res.MDNMessageID, res.OutboxID = e.MessageID, e.ID
	res.Outcome = OutcomeQueued
	if !e.Added {
		res.Outcome = OutcomeAlready
	}
	return nil
}

// MDNMessageID is the Message-ID (without <>) of the read receipt account sends for the mail
// whose Message-ID is original: the same in every process and at every attempt.
func MDNMessageID(account, original string) string {
	return mdnID(mdnSeed(account, original, nil), account)
}

func mdnSeed(account, original string, raw []byte) []byte {
	id := strings.Trim(strings.TrimSpace(original), "<>")
	if id == "" { // a mail without Message-ID: its bytes name it
		sum := sha256.Sum256(raw)
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	return []byte("mssante-mdn\x00" + strings.ToLower(strings.TrimSpace(account)) + "\x00" + id)
}

// mdnID is what message.BuildMDN makes of the first 16 bytes of the seed's stream.
func mdnID(seed []byte, account string) string {
	var b [16]byte
	_, _ = newSeedStream(seed).Read(b[:])
	domain := "mssante.invalid"
	if i := strings.LastIndexByte(account, '@'); i >= 0 && i < len(account)-1 {
		domain = strings.ToLower(account[i+1:])
	}
	return hex.EncodeToString(b[:]) + "@" + domain
}

// seedStream is the deterministic byte stream SHA-256(seed ‖ counter) (the receipt's
// Message-ID and MIME boundary).
type seedStream struct {
	seed []byte
	n    uint32
	buf  []byte
}

func newSeedStream(seed []byte) *seedStream { return &seedStream{seed: seed} }

func (s *seedStream) Read(p []byte) (int, error) {
	for i := range p {
		if len(s.buf) == 0 {
			h := sha256.New()
			h.Write(s.seed)
			_ = binary.Write(h, binary.BigEndian, s.n)
			s.n++
			s.buf = h.Sum(nil)
		}
		p[i], s.buf = s.buf[0], s.buf[1:]
	}
	return len(p), nil
}

// returnPath is the address of the Return-Path field of raw, empty when none.
func returnPath(raw []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(msg.Header.Get("Return-Path"))
	if v == "" || v == "<>" {
		return ""
	}
	if a, err := mail.ParseAddress(v); err == nil {
		return a.Address
	}
	return strings.Trim(v, "<>")
}

func hasFlagFold(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}
