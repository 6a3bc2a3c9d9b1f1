package operator

import (
	"bufio"
	"bytes"
	"mime"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
)

// view is a selected folder as one session sees it: sequence numbers go through the session
// tracker, which delays expunges the client has not been told about yet.
type view struct {
	mb       *mailbox
	st       *imapserver.SessionTracker
	readOnly bool
}

// forEach calls f with the server sequence number and metadata of each message of numSet, under
// the folder lock.
func (v *view) forEach(numSet imap.NumSet, f func(seq uint32, m *msgMeta)) {
	v.mb.mu.Lock()
	defer v.mb.mu.Unlock()
	v.forEachLocked(numSet, f)
}

func (v *view) forEachLocked(numSet imap.NumSet, f func(seq uint32, m *msgMeta)) {
	msgs := v.mb.msgs
	switch set := numSet.(type) {
	case imap.SeqSet:
		set = staticSeqSet(set, uint32(len(msgs)))
		for i, m := range msgs {
			if c := v.st.EncodeSeqNum(uint32(i) + 1); c != 0 && (&set).Contains(c) {
				f(uint32(i)+1, m)
			}
		}
	case imap.UIDSet:
		var last imap.UID
		if len(msgs) > 0 {
			last = msgs[len(msgs)-1].UID
		}
		set = staticUIDSet(set, last)
		for i, m := range msgs {
			if set.Contains(m.UID) {
				f(uint32(i)+1, m)
			}
		}
	}
}

// staticSeqSet replaces "*" (0) by the last sequence number.
func staticSeqSet(set imap.SeqSet, last uint32) imap.SeqSet {
	out := make(imap.SeqSet, len(set))
	for i, r := range set {
		if r.Start == 0 {
			r.Start = last
		}
		if r.Stop == 0 {
			r.Stop = last
		}
		if r.Start > r.Stop {
			r.Start, r.Stop = r.Stop, r.Start
		}
		out[i] = r
	}
	return out
}

// staticUIDSet replaces "*" (0) by the highest UID.
func staticUIDSet(set imap.UIDSet, last imap.UID) imap.UIDSet {
	out := make(imap.UIDSet, len(set))
	for i, r := range set {
		if r.Start == 0 {
			r.Start = last
		}
		if r.Stop == 0 {
			r.Stop = last
		}
		if r.Start > r.Stop {
			r.Start, r.Stop = r.Stop, r.Start
		}
		out[i] = r
	}
	return out
}

type fetchItem struct {
	seq   uint32 // client view
	meta  msgMeta
	flags []imap.Flag
}

// Fetch writes the requested items; a non-peek body section sets \Seen (RFC 3501 §6.4.5).
func (s *imapSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	v := s.sel
	if err := s.checkSeqSet("FETCH", numSet); err != nil {
		return err
	}
	markSeen := false
	for _, bs := range options.BodySection {
		markSeen = markSeen || !bs.Peek
	}
	markSeen = markSeen && !v.readOnly
	var items []fetchItem
	var changed bool
	cond := s.cond()
	v.forEach(numSet, func(seq uint32, m *msgMeta) {
		if cond.changedSince > 0 && m.ModSeq <= cond.changedSince {
			return // FETCH (CHANGEDSINCE n), RFC 7162 §3.1.4.1
		}
		if markSeen && !hasFlag(m, imap.FlagSeen) {
			setFlags(m, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen})
			v.mb.touchLocked(m)
			v.mb.tracker.QueueMessageFlags(seq, m.UID, flagList(m), v.st)
			changed = true
		}
		items = append(items, fetchItem{seq: v.st.EncodeSeqNum(seq), meta: *m, flags: flagList(m)})
	})
	if cond.modSeq {
		for _, it := range items {
			cond.reportModSeq(it.seq, it.meta.ModSeq)
		}
	}
	if changed {
		v.mb.mu.Lock()
		err := v.mb.saveLocked()
		v.mb.mu.Unlock()
		if err != nil {
			return err
		}
	}
	for _, it := range items {
		if err := s.fetchOne(w, it, options); err != nil {
			return err
		}
	}
	return nil
}

func (s *imapSession) fetchOne(w *imapserver.FetchWriter, it fetchItem, options *imap.FetchOptions) error {
	rw := w.CreateMessage(it.seq)
	if options.UID {
		rw.WriteUID(it.meta.UID)
	}
	if options.Flags {
		rw.WriteFlags(it.flags)
	}
	if options.InternalDate {
		rw.WriteInternalDate(it.meta.Date)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(it.meta.Size)
	}
	needBody := options.BodyStructure != nil || len(options.BodySection) > 0 ||
		len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	if options.Envelope && !needBody {
		h, err := s.sel.mb.readHeader(it.meta.UID)
		if err != nil {
			return err
		}
		rw.WriteEnvelope(imapserver.ExtractEnvelope(h))
	}
	if needBody {
		data, err := s.sel.mb.read(it.meta.UID)
		if err != nil {
			return err
		}
		if err := writeContent(rw, data, options); err != nil {
			return err
		}
	}
	return rw.Close()
}

// writeContent writes the items that need the message content (the envelope too when the
// content is read anyway).
func writeContent(rw *imapserver.FetchResponseWriter, data []byte, options *imap.FetchOptions) error {
	if options.Envelope {
		h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(data)))
		rw.WriteEnvelope(imapserver.ExtractEnvelope(h))
	}
	if options.BodyStructure != nil {
		bs := imapserver.ExtractBodyStructure(bytes.NewReader(data))
		defaultCharset(bs)
		rw.WriteBodyStructure(bs)
	}
	for _, bs := range options.BodySection {
		b := imapserver.ExtractBodySection(bytes.NewReader(data), bs)
		wc := rw.WriteBodySection(bs, int64(len(b)))
		if _, err := wc.Write(b); err != nil {
			return err
		}
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySection {
		b := imapserver.ExtractBinarySection(bytes.NewReader(data), bs)
		wc := rw.WriteBinarySection(bs, int64(len(b)))
		if _, err := wc.Write(b); err != nil {
			return err
		}
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(bs, imapserver.ExtractBinarySectionSize(bytes.NewReader(data), bs))
	}
	return nil
}

// defaultCharset gives a text part without parameters the charset RFC 2045 §5.2 defaults to
// ("charset" "us-ascii"), as Dovecot does; go-imap leaves NIL. A part without Content-Type is
// text/plain; charset=us-ascii.
func defaultCharset(bs imap.BodyStructure) {
	switch p := bs.(type) {
	case *imap.BodyStructureSinglePart:
		if strings.EqualFold(p.Type, "text") && len(p.Params) == 0 {
			p.Params = map[string]string{"charset": "us-ascii"}
		}
		if p.MessageRFC822 != nil && p.MessageRFC822.BodyStructure != nil {
			defaultCharset(p.MessageRFC822.BodyStructure)
		}
	case *imap.BodyStructureMultiPart:
		for _, c := range p.Children {
			defaultCharset(c)
		}
	}
}

// Store changes flags (keywords such as $MDNSent included) and reports them unless .SILENT.
func (s *imapSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	v := s.sel
	if err := s.checkSeqSet("STORE", numSet); err != nil {
		return err
	}
	if v.readOnly {
		return errReadOnly
	}
	var items []fetchItem
	var modified imap.NumSet = &imap.SeqSet{}
	if isUIDSet(numSet) {
		modified = &imap.UIDSet{}
	}
	cond := s.cond()
	v.mb.mu.Lock()
	v.forEachLocked(numSet, func(seq uint32, m *msgMeta) {
		if cond.unchangedSince != nil && m.ModSeq > *cond.unchangedSince {
			// STORE (UNCHANGEDSINCE n): changed since, left alone (RFC 7162 §3.1.3).
			switch set := modified.(type) {
			case *imap.UIDSet:
				set.AddNum(m.UID)
			case *imap.SeqSet:
				set.AddNum(v.st.EncodeSeqNum(seq))
			}
			return
		}
		before := strings.Join(m.Flags, " ")
		setFlags(m, flags.Op, flags.Flags)
		if strings.Join(m.Flags, " ") != before {
			v.mb.touchLocked(m)
		}
		v.mb.tracker.QueueMessageFlags(seq, m.UID, flagList(m), v.st)
		items = append(items, fetchItem{seq: v.st.EncodeSeqNum(seq), meta: *m, flags: flagList(m)})
	})
	err := v.mb.saveLocked()
	v.mb.mu.Unlock()
	if str := modified.String(); str != "" {
		cond.setModified(str)
	}
	if cond.enabled {
		for _, it := range items {
			cond.reportModSeq(it.seq, it.meta.ModSeq)
		}
	}
	if err != nil || flags.Silent {
		return err
	}
	for _, it := range items {
		rw := w.CreateMessage(it.seq)
		if isUIDSet(numSet) {
			rw.WriteUID(it.meta.UID)
		}
		rw.WriteFlags(it.flags)
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Search evaluates criteria on each message (headers and text read from the stored file when the
// criteria need them).
func (s *imapSession) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, _ *imap.SearchOptions) (*imap.SearchData, error) {
	v := s.sel
	type cand struct {
		seq  uint32
		meta msgMeta
	}
	var all []cand
	var last searchBounds
	v.forEach(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 1<<32 - 1}}, func(seq uint32, m *msgMeta) {
		all = append(all, cand{seq: v.st.EncodeSeqNum(seq), meta: *m})
		last = searchBounds{seq: max(last.seq, all[len(all)-1].seq), uid: m.UID}
	})
	var seqs imap.SeqSet
	var uids imap.UIDSet
	cond := s.cond()
	for _, c := range all {
		if n := cond.searchFilter(); n > 0 && c.meta.ModSeq < n {
			continue // SEARCH MODSEQ n (RFC 7162 §3.1.5)
		}
		ok, err := s.match(c.seq, &c.meta, criteria, last)
		if err != nil {
			return nil, err
		}
		if ok {
			if cond.searchFilter() > 0 {
				cond.reportSearchModSeq(c.meta.ModSeq)
			}
			seqs.AddNum(c.seq)
			uids.AddNum(c.meta.UID)
		}
	}
	d := &imap.SearchData{All: seqs}
	if kind == imapserver.NumKindUID {
		d.All = uids
	}
	return d, nil
}

// lazyContent reads a message's header, then its whole content, once each and only when a
// criterion needs them (most searches look at headers: a 25 MB message is not read for them).
type lazyContent struct {
	mb      *mailbox
	uid     imap.UID
	hdr     *textproto.Header
	data    []byte
	decoded *string
}

func (l *lazyContent) header() (textproto.Header, error) {
	if l.hdr == nil {
		h, err := l.mb.readHeader(l.uid)
		if err != nil {
			return textproto.Header{}, err
		}
		l.hdr = &h
	}
	return *l.hdr, nil
}

func (l *lazyContent) content() ([]byte, error) {
	if l.data == nil {
		data, err := l.mb.read(l.uid)
		if err != nil {
			return nil, err
		}
		l.data = data
	}
	return l.data, nil
}

// text returns the decoded text parts in lower case, computed once.
func (l *lazyContent) text() string {
	if l.decoded == nil {
		s := strings.ToLower(decodedBody(l.data))
		l.decoded = &s
	}
	return *l.decoded
}

// searchBounds are the values of "*" in a SEARCH: the last sequence number and the highest UID.
type searchBounds struct {
	seq uint32
	uid imap.UID
}

func (s *imapSession) match(seq uint32, m *msgMeta, c *imap.SearchCriteria, last searchBounds) (bool, error) {
	lc := &lazyContent{mb: s.sel.mb, uid: m.UID}
	return matchCriteria(seq, m, c, last, lc)
}

func matchCriteria(seq uint32, m *msgMeta, c *imap.SearchCriteria, last searchBounds, lc *lazyContent) (bool, error) {
	if !matchMeta(seq, m, c, last) {
		return false, nil
	}
	if ok, err := matchContent(c, lc); !ok || err != nil {
		return false, err
	}
	for i := range c.Not {
		ok, err := matchCriteria(seq, m, &c.Not[i], last, lc)
		if ok || err != nil {
			return false, err
		}
	}
	for _, or := range c.Or {
		a, err := matchCriteria(seq, m, &or[0], last, lc)
		if err != nil {
			return false, err
		}
		b, err := matchCriteria(seq, m, &or[1], last, lc)
		if err != nil || !(a || b) {
			return false, err
		}
	}
	return true, nil
}

func matchMeta(seq uint32, m *msgMeta, c *imap.SearchCriteria, last searchBounds) bool {
	for _, set := range c.SeqNum {
		if st := staticSeqSet(set, last.seq); !st.Contains(seq) {
			return false
		}
	}
	for _, set := range c.UID {
		if !staticUIDSet(set, last.uid).Contains(m.UID) {
			return false
		}
	}
	day := truncDay(m.Date)
	if !c.Since.IsZero() && day.Before(truncDay(c.Since)) {
		return false
	}
	if !c.Before.IsZero() && !day.Before(truncDay(c.Before)) {
		return false
	}
	for _, f := range c.Flag {
		if !hasFlag(m, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(m, f) {
			return false
		}
	}
	if c.Larger > 0 && m.Size <= c.Larger {
		return false
	}
	if c.Smaller > 0 && m.Size >= c.Smaller {
		return false
	}
	return true
}

func truncDay(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

var wordDecoder = mime.WordDecoder{}

func matchContent(c *imap.SearchCriteria, lc *lazyContent) (bool, error) {
	if len(c.Header) == 0 && len(c.Body) == 0 && len(c.Text) == 0 && c.SentSince.IsZero() && c.SentBefore.IsZero() {
		return true, nil
	}
	h, err := lc.header()
	if err != nil {
		return false, err
	}
	for _, hf := range c.Header {
		if !matchHeader(h, hf) {
			return false, nil
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		t, err := mailDate(h.Get("Date"))
		if err != nil || (!c.SentSince.IsZero() && truncDay(t).Before(truncDay(c.SentSince))) ||
			(!c.SentBefore.IsZero() && !truncDay(t).Before(truncDay(c.SentBefore))) {
			return false, nil
		}
	}
	if len(c.Body) == 0 && len(c.Text) == 0 {
		return true, nil
	}
	data, err := lc.content()
	if err != nil {
		return false, err
	}
	body := data
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		body = data[i+4:]
	}
	for _, s := range c.Body {
		if !containsFold(body, s) && !strings.Contains(lc.text(), strings.ToLower(s)) {
			return false, nil
		}
	}
	for _, s := range c.Text {
		if !containsFold(data, s) && !strings.Contains(lc.text(), strings.ToLower(s)) && !headerContains(h, s) {
			return false, nil
		}
	}
	return true, nil
}

// matchHeader matches a header field by name, its value (MIME words decoded) containing the
// string case-insensitively; an empty string matches the presence of the field.
func matchHeader(h textproto.Header, hf imap.SearchCriteriaHeaderField) bool {
	fields := h.FieldsByKey(hf.Key)
	for fields.Next() {
		v := fields.Value()
		if dec, err := wordDecoder.DecodeHeader(v); err == nil {
			v = dec
		}
		if strings.Contains(strings.ToLower(v), strings.ToLower(hf.Value)) {
			return true
		}
	}
	return false
}

// headerContains reports whether a decoded header field value contains s.
func headerContains(h textproto.Header, s string) bool {
	for f := h.Fields(); f.Next(); {
		if v, err := wordDecoder.DecodeHeader(f.Value()); err == nil && strings.Contains(strings.ToLower(v), strings.ToLower(s)) {
			return true
		}
	}
	return false
}

func containsFold(data []byte, s string) bool {
	return bytes.Contains(bytes.ToLower(data), bytes.ToLower([]byte(s)))
}
