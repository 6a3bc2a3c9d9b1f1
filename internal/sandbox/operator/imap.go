package operator

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"
)

// imapSession is one IMAP connection: not authenticated, then bound to one mailbox account.
type imapSession struct {
	op    *Operator
	conn  *imapserver.Conn
	front *imapFront
	acct  Account
	user  *userStore // nil until authenticated
	// sel is the selected folder, or nil. The command goroutine reads and sets it; go-imap calls
	// Close from the connection's teardown, possibly while Idle runs: selMu guards the pointer
	// between those two.
	selMu sync.Mutex
	sel   *view
}

var (
	_ imapserver.SessionIMAP4rev2      = (*imapSession)(nil)
	_ imapserver.SessionSASL           = (*imapSession)(nil)
	_ imapserver.SessionAppendLimit    = (*imapSession)(nil)
	_ imapserver.SessionUnauthenticate = (*imapSession)(nil)
)

var imapAuthFailed = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed,
	Text: "Authentication failed"}

func (op *Operator) newIMAPSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	s := &imapSession{op: op, conn: c}
	if fc, ok := c.NetConn().(frontConn); ok {
		s.front = fc.f
		fc.f.sess = s
	}
	return s, nil, nil
}

// tlsState is the TLS of the client connection, which the front terminates (nil before STARTTLS).
func (s *imapSession) tlsState() *tls.ConnectionState {
	if s.front == nil {
		return nil
	}
	return s.front.tlsState
}

func (s *imapSession) bind(a Account, mech string) error {
	u, err := s.op.store.ensureUser(a.Address)
	if err != nil {
		return err
	}
	s.acct, s.user = a, u
	s.op.log.Info("imap login", "bal", a.Address, "mech", mech)
	return nil
}

func (s *imapSession) refused(mech, user string, err error) {
	s.op.log.Info("imap login refused", "bal", user, "mech", mech, "err", err)
}

// AuthenticateMechanisms lists XOAUTH2 and OAUTHBEARER (RFC 7628) for personal and
// organisational mailboxes, PLAIN for applicative ones.
func (s *imapSession) AuthenticateMechanisms() []string {
	return []string{"XOAUTH2", "OAUTHBEARER", "PLAIN"}
}

// Authenticate returns the SASL server for mech (called after STARTTLS only: InsecureAuth is off).
func (s *imapSession) Authenticate(mech string) (sasl.Server, error) {
	ctx := context.Background()
	switch mech {
	case "XOAUTH2":
		return &xoauth2Server{fail: imapAuthFailed, check: func(user, token string) error {
			a, err := s.op.authXOAUTH2(ctx, user, token)
			if err != nil {
				s.refused(mech, user, err)
				return err
			}
			return s.bind(a, mech)
		}}, nil
	case "OAUTHBEARER":
		return &xoauth2Server{parse: parseOAuthBearer, fail: imapAuthFailed, check: func(user, token string) error {
			a, err := s.op.authXOAUTH2(ctx, user, token)
			if err != nil {
				s.refused(mech, user, err)
				return err
			}
			return s.bind(a, mech)
		}}, nil
	case "PLAIN":
		return &plainServer{fail: imapAuthFailed, check: func(user string) error { return s.loginCert(user, mech) }}, nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "SASL mechanism not supported"}
}

func (s *imapSession) loginCert(user, mech string) error {
	a, err := s.op.authCertPlain(context.Background(), s.tlsState(), user)
	if err != nil {
		s.refused(mech, user, err)
		return imapAuthFailed
	}
	return s.bind(a, mech)
}

// Login is LOGIN: the applicative login (certificate), like AUTHENTICATE PLAIN.
func (s *imapSession) Login(username, _ string) error { return s.loginCert(username, "LOGIN") }

func (s *imapSession) Unauthenticate() error {
	s.closeView()
	s.user, s.acct = nil, Account{}
	return nil
}

func (s *imapSession) Close() error {
	s.closeView()
	return nil
}

func (s *imapSession) closeView() {
	s.selMu.Lock()
	sel := s.sel
	s.sel = nil
	s.selMu.Unlock()
	if sel != nil {
		sel.st.Close()
	}
}

// selected returns the selected folder under selMu (for Idle and Poll, which may overlap Close).
func (s *imapSession) selected() *view {
	s.selMu.Lock()
	defer s.selMu.Unlock()
	return s.sel
}

// AppendLimit is the message size limit of the account.
func (s *imapSession) AppendLimit() uint32 {
	return uint32(min(s.op.opts.MaxMessageSize, 1<<32-1))
}

func (s *imapSession) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Delim: delim}}}, nil
}

func (s *imapSession) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	s.closeView()
	mb, err := s.user.mailbox(name)
	if err != nil {
		return nil, err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	sel := &view{mb: mb, st: mb.tracker.NewSession(), readOnly: options != nil && options.ReadOnly}
	s.selMu.Lock()
	s.sel = sel
	s.selMu.Unlock()
	flags := []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft,
		imap.FlagForwarded, imap.FlagMDNSent}
	d := &imap.SelectData{Flags: flags, NumMessages: uint32(len(mb.msgs)), UIDNext: mb.uidNext, UIDValidity: mb.uidValidity}
	if !s.sel.readOnly {
		// EXAMINE: "PERMANENTFLAGS ()", no flag can be changed (RFC 3501 §6.3.2), as Dovecot.
		d.PermanentFlags = append(append([]imap.Flag{}, flags...), imap.FlagWildcard)
	}
	for i, m := range mb.msgs {
		if !hasFlag(m, imap.FlagSeen) {
			d.FirstUnseenSeqNum = uint32(i) + 1
			break
		}
	}
	return d, nil
}

func (s *imapSession) Unselect() error {
	s.closeView()
	return nil
}

func (s *imapSession) Create(name string, options *imap.CreateOptions) error {
	var attr imap.MailboxAttr
	if options != nil && len(options.SpecialUse) > 0 {
		attr = options.SpecialUse[0]
	}
	_, err := s.user.create(name, attr)
	return err
}

func (s *imapSession) Delete(name string) error { return s.user.remove(name) }

func (s *imapSession) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	return s.user.rename(oldName, newName)
}

func (s *imapSession) Subscribe(name string) error   { return s.subscribe(name, true) }
func (s *imapSession) Unsubscribe(name string) error { return s.subscribe(name, false) }

func (s *imapSession) subscribe(name string, on bool) error {
	mb, err := s.user.mailbox(name)
	if err != nil {
		return err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	mb.subscribed = on
	return mb.saveLocked()
}

// List lists the folders with \HasChildren or \HasNoChildren; a parent that is not a folder
// (CREATE Archives/2026 without Archives) is listed \Noselect \HasChildren, as Dovecot does.
func (s *imapSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	type entry struct {
		name          string
		attr          imap.MailboxAttr
		sub, noSelect bool
	}
	var entries []entry
	names := map[string]bool{}
	for _, mb := range s.user.list() {
		mb.mu.Lock()
		entries = append(entries, entry{name: mb.name, attr: mb.attr, sub: mb.subscribed})
		names[mb.name] = true
		mb.mu.Unlock()
	}
	for _, e := range entries {
		for i := strings.IndexByte(e.name, delim); i > 0; i = nextDelim(e.name, i) {
			if p := e.name[:i]; !names[p] {
				names[p] = true
				entries = append(entries, entry{name: p, noSelect: true})
			}
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	for _, e := range entries {
		if options != nil && options.SelectSubscribed && !e.sub {
			continue
		}
		match := false
		for _, p := range patterns {
			match = match || imapserver.MatchList(e.name, delim, ref, p)
		}
		if !match {
			continue
		}
		d := &imap.ListData{Mailbox: e.name, Delim: delim}
		if e.noSelect {
			d.Attrs = append(d.Attrs, imap.MailboxAttrNoSelect)
		}
		children := imap.MailboxAttrHasNoChildren
		for n := range names {
			if strings.HasPrefix(n, e.name+string(delim)) {
				children = imap.MailboxAttrHasChildren
				break
			}
		}
		d.Attrs = append(d.Attrs, children)
		if e.attr != "" {
			d.Attrs = append(d.Attrs, e.attr)
		}
		if e.sub && options != nil && options.ReturnSubscribed {
			d.Attrs = append(d.Attrs, imap.MailboxAttrSubscribed)
		}
		if err := w.WriteList(d); err != nil {
			return err
		}
	}
	return nil
}

// nextDelim returns the index of the next delimiter after i in name, or -1.
func nextDelim(name string, i int) int {
	j := strings.IndexByte(name[i+1:], delim)
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func (s *imapSession) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	mb, err := s.user.mailbox(name)
	if err != nil {
		return nil, err
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	d := &imap.StatusData{Mailbox: mb.name}
	count := func(f func(*msgMeta) bool) *uint32 {
		var n uint32
		for _, m := range mb.msgs {
			if f(m) {
				n++
			}
		}
		return &n
	}
	if options.NumMessages {
		d.NumMessages = count(func(*msgMeta) bool { return true })
	}
	if options.UIDNext {
		d.UIDNext = mb.uidNext
	}
	if options.UIDValidity {
		d.UIDValidity = mb.uidValidity
	}
	if options.NumUnseen {
		d.NumUnseen = count(func(m *msgMeta) bool { return !hasFlag(m, imap.FlagSeen) })
	}
	if options.NumDeleted {
		d.NumDeleted = count(func(m *msgMeta) bool { return hasFlag(m, imap.FlagDeleted) })
	}
	if options.NumRecent {
		d.NumRecent = new(uint32)
	}
	if options.Size {
		var n int64
		for _, m := range mb.msgs {
			n += m.Size
		}
		d.Size = &n
	}
	return d, nil
}

// Append stores a message in a folder of the account (a client saving what it sent in Sent).
func (s *imapSession) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	mb, err := s.user.mailbox(name)
	if err != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	if r.Size() > s.op.opts.MaxMessageSize {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too big"}
	}
	if err := s.checkQuota(r.Size()); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return nil, err
	}
	date := options.Time
	if date.IsZero() {
		date = s.op.opts.Now()
	}
	return mb.appendMessage(buf.Bytes(), options.Flags, date)
}

func (s *imapSession) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	sel := s.selected()
	if sel == nil {
		return nil
	}
	return sel.st.Poll(w, allowExpunge)
}

func (s *imapSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	sel := s.selected()
	if sel == nil {
		<-stop
		return nil
	}
	return sel.st.Idle(w, stop)
}

func (s *imapSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if s.sel.readOnly {
		return errReadOnly
	}
	mb := s.sel.mb
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.expungeLocked(func(m *msgMeta) bool {
		return hasFlag(m, imap.FlagDeleted) && (uids == nil || uids.Contains(m.UID))
	})
}

var errReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
	Text: "Mailbox is read-only (EXAMINE)"}

func (s *imapSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if err := s.checkSeqSet("COPY", numSet); err != nil {
		return nil, err
	}
	return s.copyMessages(numSet, dest, false)
}

// Move copies then expunges; the EXPUNGE responses come from the poll that follows the command.
func (s *imapSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if s.sel.readOnly {
		return errReadOnly
	}
	if err := s.checkSeqSet("MOVE", numSet); err != nil {
		return err
	}
	d, err := s.copyMessages(numSet, dest, true)
	if err != nil {
		return err
	}
	return w.WriteCopyData(d)
}

func (s *imapSession) copyMessages(numSet imap.NumSet, destName string, move bool) (*imap.CopyData, error) {
	dest, err := s.user.mailbox(destName)
	if err != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	src := s.sel.mb
	if dest == src {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Source and destination are the same mailbox"}
	}
	var items []*msgMeta
	var size int64
	s.sel.forEach(numSet, func(_ uint32, m *msgMeta) { c := *m; items = append(items, &c); size += m.Size })
	if !move {
		if err := s.checkQuota(size); err != nil {
			return nil, err
		}
	}
	d := &imap.CopyData{}
	for _, m := range items {
		data, err := src.read(m.UID)
		if err != nil {
			return nil, err
		}
		ad, err := dest.appendMessage(data, flagList(m), m.Date)
		if err != nil {
			return nil, err
		}
		d.UIDValidity = ad.UIDValidity
		d.SourceUIDs.AddNum(m.UID)
		d.DestUIDs.AddNum(ad.UID)
	}
	if move && len(items) > 0 {
		src.mu.Lock()
		defer src.mu.Unlock()
		if err := src.expungeLocked(func(m *msgMeta) bool { return d.SourceUIDs.Contains(m.UID) }); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// checkSeqSet refuses message sequence numbers beyond the mailbox as Dovecot does ("BAD Error in
// IMAP command FETCH: Invalid messageset"); UIDs beyond it simply match nothing.
func (s *imapSession) checkSeqSet(cmd string, numSet imap.NumSet) error {
	set, ok := numSet.(imap.SeqSet)
	if !ok {
		return nil
	}
	mb := s.sel.mb
	mb.mu.Lock()
	n := uint32(len(mb.msgs))
	if n > 0 {
		n = max(n, s.sel.st.EncodeSeqNum(n))
	}
	mb.mu.Unlock()
	for _, r := range set {
		if r.Start > n || r.Stop > n {
			return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Error in IMAP command " + cmd + ": Invalid messageset"}
		}
	}
	return nil
}

// isUIDSet reports whether the command used UIDs.
func isUIDSet(numSet imap.NumSet) bool {
	_, ok := numSet.(imap.UIDSet)
	return ok
}
