package operator

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
)

// The store keeps each mailbox in its own directory:
//
//	DataDir/mail/<address, path-escaped>/<hex of the folder name>/index.json
//	DataDir/mail/<address, path-escaped>/<hex of the folder name>/<uid>.eml
//
// index.json holds the folder name, UIDVALIDITY, UIDNEXT, the subscription and each message's UID,
// flags, internal date and size. Every file is written to a temporary name, synced and renamed:
// a crash leaves either the old or the new version. A message file is written before the index
// names it and removed after the index forgets it, so the index never names a missing file;
// files the index does not name (a crash in between) are removed at start.

const (
	indexFile  = "index.json"
	folderMode = 0o700
	fileMode   = 0o600
	delim      = '/'
)

// Folders every account has.
var defaultFolders = []struct {
	name string
	attr imap.MailboxAttr
}{{"INBOX", ""}, {"Sent", imap.MailboxAttrSent}, {"Trash", imap.MailboxAttrTrash}}

type store struct {
	dir string
	now func() time.Time

	loadMu       sync.Mutex // serialises ensureUser: one loader per account directory
	mu           sync.Mutex
	users        map[string]*userStore
	lastValidity uint32
}

type userStore struct {
	st  *store
	dir string

	mu    sync.Mutex
	boxes map[string]*mailbox // by name; INBOX upper case
}

type mailbox struct {
	dir string

	mu          sync.Mutex
	name        string
	attr        imap.MailboxAttr
	uidValidity uint32
	uidNext     imap.UID
	subscribed  bool
	msgs        []*msgMeta
	modSeq      uint64 // HIGHESTMODSEQ (RFC 7162): raised by every append, flag change and expunge
	tracker     *imapserver.MailboxTracker
	deleted     bool
}

type msgMeta struct {
	UID   imap.UID  `json:"uid"`
	Flags []string  `json:"flags,omitempty"`
	Date  time.Time `json:"date"`
	Size  int64     `json:"size"`
	// ModSeq is the mod-sequence of the message's last change (RFC 7162).
	ModSeq uint64 `json:"modseq,omitempty"`
}

type indexJSON struct {
	Name        string `json:"name"`
	SpecialUse  string `json:"special_use,omitempty"`
	UIDValidity uint32 `json:"uid_validity"`
	UIDNext     uint32 `json:"uid_next"`
	Subscribed  bool   `json:"subscribed"`
	// HighestModSeq is the mailbox's HIGHESTMODSEQ (RFC 7162); an index written before CONDSTORE
	// has none and starts at 1.
	HighestModSeq uint64     `json:"highest_modseq,omitempty"`
	Messages      []*msgMeta `json:"messages"`
}

func openStore(dataDir string, now func() time.Time) (*store, error) {
	dir := filepath.Join(dataDir, "mail")
	if err := os.MkdirAll(dir, folderMode); err != nil {
		return nil, fmt.Errorf("operator: mail store: %w", err)
	}
	return &store{dir: dir, now: now, users: map[string]*userStore{}}, nil
}

// newValidity returns a UIDVALIDITY never given before by this store (RFC 3501 §2.3.1.1).
func (s *store) newValidity() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := uint32(s.now().Unix())
	if v <= s.lastValidity {
		v = s.lastValidity + 1
	}
	s.lastValidity = v
	return v
}

func (s *store) user(addr string) *userStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[strings.ToLower(addr)]
}

// ensureUser loads the mailboxes of addr from disk, creating the default folders.
func (s *store) ensureUser(addr string) (*userStore, error) {
	if u := s.user(addr); u != nil {
		return u, nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if u := s.user(addr); u != nil {
		return u, nil
	}
	u := &userStore{st: s, dir: filepath.Join(s.dir, url.PathEscape(addr)), boxes: map[string]*mailbox{}}
	if err := os.MkdirAll(u.dir, folderMode); err != nil {
		return nil, fmt.Errorf("operator: mailbox %s: %w", addr, err)
	}
	entries, err := os.ReadDir(u.dir)
	if err != nil {
		return nil, fmt.Errorf("operator: mailbox %s: %w", addr, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		mb, err := loadMailbox(filepath.Join(u.dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("operator: mailbox %s: %w", addr, err)
		}
		if mb != nil {
			u.boxes[mb.name] = mb
			s.mu.Lock()
			s.lastValidity = max(s.lastValidity, mb.uidValidity)
			s.mu.Unlock()
		}
	}
	for _, f := range defaultFolders {
		if u.boxes[f.name] == nil {
			if _, err := u.create(f.name, f.attr); err != nil {
				return nil, err
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[addr] = u
	return u, nil
}

func loadMailbox(dir string) (*mailbox, error) {
	data, err := os.ReadFile(filepath.Join(dir, indexFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, os.RemoveAll(dir) // a folder whose creation did not complete
	}
	if err != nil {
		return nil, err
	}
	var ix indexJSON
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	mb := &mailbox{dir: dir, name: ix.Name, attr: imap.MailboxAttr(ix.SpecialUse), uidValidity: ix.UIDValidity,
		uidNext: imap.UID(ix.UIDNext), subscribed: ix.Subscribed, msgs: ix.Messages, modSeq: max(ix.HighestModSeq, 1)}
	for _, m := range mb.msgs {
		m.ModSeq = max(m.ModSeq, 1)
		mb.modSeq = max(mb.modSeq, m.ModSeq)
	}
	sort.Slice(mb.msgs, func(i, j int) bool { return mb.msgs[i].UID < mb.msgs[j].UID })
	mb.tracker = imapserver.NewMailboxTracker(uint32(len(mb.msgs)))
	mb.removeStrays()
	return mb, nil
}

// removeStrays removes files the index does not name: temporary files and messages written by an
// append or removed by an expunge that a crash interrupted.
func (mb *mailbox) removeStrays() {
	known := map[string]bool{indexFile: true}
	for _, m := range mb.msgs {
		known[emlName(m.UID)] = true
	}
	entries, _ := os.ReadDir(mb.dir)
	for _, e := range entries {
		if !known[e.Name()] {
			_ = os.Remove(filepath.Join(mb.dir, e.Name()))
		}
	}
}

func emlName(uid imap.UID) string { return strconv.FormatUint(uint64(uid), 10) + ".eml" }

// canonicalName returns INBOX in upper case, other names as given without a trailing delimiter.
func canonicalName(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return strings.TrimRight(name, string(delim))
}

func (u *userStore) mailbox(name string) (*mailbox, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	mb := u.boxes[canonicalName(name)]
	if mb == nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	}
	return mb, nil
}

func (u *userStore) list() []*mailbox {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]*mailbox, 0, len(u.boxes))
	for _, mb := range u.boxes {
		out = append(out, mb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (u *userStore) create(name string, attr imap.MailboxAttr) (*mailbox, error) {
	name = canonicalName(name)
	if name == "" || strings.ContainsAny(name, "\x00\r\n*%") {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Invalid mailbox name"}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.boxes[name] != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	}
	mb := &mailbox{dir: filepath.Join(u.dir, hex.EncodeToString([]byte(name))), name: name, attr: attr,
		uidValidity: u.st.newValidity(), uidNext: 1, subscribed: true, modSeq: 1, tracker: imapserver.NewMailboxTracker(0)}
	if err := os.RemoveAll(mb.dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(mb.dir, folderMode); err != nil {
		return nil, err
	}
	if err := mb.saveLocked(); err != nil {
		return nil, err
	}
	u.boxes[name] = mb
	return mb, nil
}

func (u *userStore) remove(name string) error {
	name = canonicalName(name)
	if name == "INBOX" {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "INBOX cannot be deleted"}
	}
	u.mu.Lock()
	mb := u.boxes[name]
	delete(u.boxes, name)
	u.mu.Unlock()
	if mb == nil {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	}
	mb.mu.Lock()
	mb.deleted = true
	mb.mu.Unlock()
	// The index goes first: a crash leaves a folder without index, removed at the next start.
	if err := os.Remove(filepath.Join(mb.dir, indexFile)); err != nil {
		return err
	}
	return os.RemoveAll(mb.dir)
}

// rename gives a folder a new name; its directory and UIDs stay (the directory name is only a
// key: the index holds the name).
func (u *userStore) rename(oldName, newName string) error {
	oldName, newName = canonicalName(oldName), canonicalName(newName)
	if oldName == "INBOX" || newName == "INBOX" {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "INBOX cannot be renamed"}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	mb := u.boxes[oldName]
	if mb == nil {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	}
	if u.boxes[newName] != nil {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	}
	mb.mu.Lock()
	mb.name = newName
	err := mb.saveLocked()
	mb.mu.Unlock()
	if err != nil {
		return err
	}
	delete(u.boxes, oldName)
	u.boxes[newName] = mb
	return nil
}

// saveLocked writes the index atomically.
func (mb *mailbox) saveLocked() error {
	ix := indexJSON{Name: mb.name, SpecialUse: string(mb.attr), UIDValidity: mb.uidValidity,
		UIDNext: uint32(mb.uidNext), Subscribed: mb.subscribed, HighestModSeq: mb.modSeq, Messages: mb.msgs}
	if ix.Messages == nil {
		ix.Messages = []*msgMeta{}
	}
	data, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(mb.dir, indexFile), data)
}

// writeAtomic writes data to path through a synced temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, fileMode)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// appendMessage stores data with flags and date and announces it to the selected sessions (IDLE
// sees it).
func (mb *mailbox) appendMessage(data []byte, flags []imap.Flag, date time.Time) (*imap.AppendData, error) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.deleted {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	}
	uid := mb.uidNext
	if err := writeAtomic(filepath.Join(mb.dir, emlName(uid)), data); err != nil {
		return nil, err
	}
	m := &msgMeta{UID: uid, Date: date.UTC().Truncate(time.Second), Size: int64(len(data)), ModSeq: mb.modSeq + 1}
	setFlags(m, imap.StoreFlagsSet, flags)
	mb.msgs = append(mb.msgs, m)
	mb.uidNext++
	mb.modSeq++
	if err := mb.saveLocked(); err != nil {
		mb.msgs = mb.msgs[:len(mb.msgs)-1]
		mb.uidNext--
		mb.modSeq--
		_ = os.Remove(filepath.Join(mb.dir, emlName(uid)))
		return nil, err
	}
	mb.tracker.QueueNumMessages(uint32(len(mb.msgs)))
	return &imap.AppendData{UID: uid, UIDValidity: mb.uidValidity}, nil
}

// readHeader reads the header of a stored message, not its body.
func (mb *mailbox) readHeader(uid imap.UID) (textproto.Header, error) {
	f, err := os.Open(filepath.Join(mb.dir, emlName(uid)))
	if err != nil {
		return textproto.Header{}, err
	}
	defer f.Close()
	// A malformed or truncated header gives the fields that could be read, like Dovecot.
	h, _ := textproto.ReadHeader(bufio.NewReader(f))
	return h, nil
}

// read returns the stored message.
func (mb *mailbox) read(uid imap.UID) ([]byte, error) {
	return os.ReadFile(filepath.Join(mb.dir, emlName(uid)))
}

// expungeLocked removes the messages for which remove returns true, announcing each expunge to
// the sessions (highest sequence number first, so that each number is valid when announced).
func (mb *mailbox) expungeLocked(remove func(m *msgMeta) bool) error {
	var gone []imap.UID
	kept := mb.msgs[:0:0]
	for _, m := range mb.msgs {
		if remove(m) {
			gone = append(gone, m.UID)
		} else {
			kept = append(kept, m)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	old := mb.msgs
	mb.msgs = kept
	mb.modSeq++
	if err := mb.saveLocked(); err != nil {
		mb.msgs = old
		mb.modSeq--
		return err
	}
	for i := len(old) - 1; i >= 0; i-- {
		if remove(old[i]) {
			mb.tracker.QueueExpunge(uint32(i) + 1)
		}
	}
	for _, uid := range gone {
		_ = os.Remove(filepath.Join(mb.dir, emlName(uid)))
	}
	return nil
}

func hasFlag(m *msgMeta, f imap.Flag) bool {
	for _, g := range m.Flags {
		if strings.EqualFold(g, string(f)) {
			return true
		}
	}
	return false
}

// touchLocked gives m the next mod-sequence of the mailbox (its flags changed).
func (mb *mailbox) touchLocked(m *msgMeta) {
	mb.modSeq++
	m.ModSeq = mb.modSeq
}

// setFlags applies a STORE operation. \Recent cannot be set by clients (RFC 3501 §2.3.2).
func setFlags(m *msgMeta, op imap.StoreFlagsOp, flags []imap.Flag) {
	if op == imap.StoreFlagsSet {
		m.Flags = nil
	}
	for _, f := range flags {
		f = canonicalFlag(f)
		if f == flagRecent {
			continue
		}
		switch {
		case op == imap.StoreFlagsDel:
			m.Flags = removeString(m.Flags, string(f))
		case !hasFlag(m, f):
			m.Flags = append(m.Flags, string(f))
		}
	}
}

func removeString(list []string, s string) []string {
	out := list[:0]
	for _, v := range list {
		if !strings.EqualFold(v, s) {
			out = append(out, v)
		}
	}
	return out
}

// canonicalFlag spells system flags as RFC 3501 does; keywords keep their case.
func canonicalFlag(f imap.Flag) imap.Flag {
	for _, sys := range []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted,
		imap.FlagDraft, flagRecent, imap.FlagForwarded, imap.FlagMDNSent} {
		if strings.EqualFold(string(f), string(sys)) {
			return sys
		}
	}
	return f
}

func flagList(m *msgMeta) []imap.Flag {
	out := make([]imap.Flag, 0, len(m.Flags))
	for _, f := range m.Flags {
		out = append(out, imap.Flag(f))
	}
	return out
}

// flagRecent is the IMAP4rev1 session flag, never stored.
const flagRecent imap.Flag = `\Recent`
