package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// The drop folder (--outbox-dir): the software writes one or more CDA files NAME.xml,
// NAME.1.xml, NAME.2.xml… (documents of one patient), then the sidecar NAME.json last:
//
//	{"from": "…", "to": ["…"], "cc": [], "body": "…", "dsn": true, "mdn": false}
//
// The sidecar is the signal; write it atomically (to a name starting with "." then renamed), so
// that it is never read half-written. The gateway claims a drop by renaming the sidecar into processing/
// (one rename: one process wins), then its CDA files; composes the mail with the drop id (a hash
// of the files) as the seed of its Message-ID and stores it in the outbox (a crash anywhere
// before the end gives, at the next scan of processing/, the same Message-ID, which the outbox
// stores once); then moves the files to sent/ with NAME.status.json. A drop the gateway refuses
// goes to error/ with NAME.error.txt saying why, in French.
const (
	dropProcessing = "processing"
	dropSent       = "sent"
	dropError      = "error"
)

// DropStatus is written to sent/NAME.status.json.
type DropStatus struct {
	Drop      string `json:"drop"`
	ID        int64  `json:"id"`
	MessageID string `json:"message_id"`
	State     string `json:"state"`
}

// dropSidecar is NAME.json.
type dropSidecar struct {
	From                string   `json:"from"`
	To                  []string `json:"to"`
	Cc                  []string `json:"cc"`
	Subject             string   `json:"subject"`
	Body                string   `json:"body"`
	DSN                 bool     `json:"dsn"`
	MDN                 bool     `json:"mdn"`
	PatientReplyBlocked bool     `json:"patient_reply_blocked"`
}

func (g *Gateway) runDrops(ctx context.Context) error {
	dir := g.o.OutboxDir
	for _, sub := range []string{dropProcessing, dropSent, dropError} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("drop folder: %w", err)
		}
	}
	for {
		if err := g.scanDrops(ctx); err != nil && ctx.Err() == nil {
			g.log.Warn("drop folder", "err", err)
		}
		if !sleep(ctx, g.o.Poll) {
			return nil
		}
	}
}

// ScanDrops processes the drops present now (processing/ first: drops a crash interrupted).
func (g *Gateway) scanDrops(ctx context.Context) error {
	dir := g.o.OutboxDir
	proc := filepath.Join(dir, dropProcessing)
	// Drops claimed by a process that died: processed again (same Message-ID).
	pending, err := sidecars(proc)
	if err != nil {
		return err
	}
	for _, name := range pending {
		g.claimedDrop(ctx, name)
	}
	g.sweepFinished(dir)
	fresh, err := sidecars(dir)
	if err != nil {
		return err
	}
	for _, name := range fresh {
		if ctx.Err() != nil {
			return nil
		}
		// The claim: one rename of the sidecar. Another process that renamed it first wins.
		if err := os.Rename(filepath.Join(dir, name+".json"), filepath.Join(proc, name+".json")); err != nil {
			continue
		}
		g.claimedDrop(ctx, name)
	}
	return nil
}

// sidecars lists the NAME of each NAME.json of dir (not the status files), sorted.
func sidecars(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".status.json") {
			continue
		}
		names = append(names, strings.TrimSuffix(n, ".json"))
	}
	sort.Strings(names)
	return names, nil
}

// dropFiles returns the CDA files of drop name in dir: NAME.xml and NAME.<n>.xml.
func dropFiles(dir, name string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(strings.ToLower(n), ".xml") {
			continue
		}
		stem := n[:len(n)-4]
		if stem == name || (strings.HasPrefix(stem, name+".") && !strings.Contains(stem[len(name)+1:], ".")) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// claimedDrop processes drop name of processing/ under the lease "drop:NAME" of the store: a drop
// being processed by a live process (the one that claimed it, or the one resuming it after a
// crash) is left to it; a dead process's lease expires and another process resumes the drop.
func (g *Gateway) claimedDrop(ctx context.Context, name string) {
	lease := "drop:" + name
	ok, err := g.lease(ctx, lease)
	if err != nil || !ok {
		return
	}
	defer g.release(lease)
	// Finished by its holder meanwhile: the sidecar left processing/ before the lease was freed.
	if _, err := os.Stat(filepath.Join(g.o.OutboxDir, dropProcessing, name+".json")); err != nil {
		return
	}
	_ = g.underLease(ctx, lease, func(ctx context.Context) error {
		g.processDrop(ctx, name)
		return nil
	})
}

// processDrop sends the claimed drop name (its sidecar is in processing/).
func (g *Gateway) processDrop(ctx context.Context, name string) {
	dir := g.o.OutboxDir
	proc := filepath.Join(dir, dropProcessing)
	// Bring the CDA files next to the sidecar (some may already be there after a crash).
	top, _ := dropFiles(dir, name)
	for _, f := range top {
		if err := os.Rename(filepath.Join(dir, f), filepath.Join(proc, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			g.log.Warn("drop: claim file", "file", f, "err", err)
			return
		}
	}
	files, err := dropFiles(proc, name)
	if err != nil {
		return
	}
	st, err := g.sendDrop(ctx, proc, name, files)
	if ctx.Err() != nil {
		return // stays in processing/: resumed at the next start
	}
	all := append([]string{name + ".json"}, files...)
	dest := filepath.Join(dir, dropSent)
	if err != nil {
		if !errors.Is(err, ErrInvalid) {
			g.log.Warn("drop: not sent yet", "drop", name, "err", err)
			return // temporary (store down): retried at the next scan
		}
		dest = filepath.Join(dir, dropError)
		if werr := writeAtomic(filepath.Join(dest, name+".error.txt"), []byte(err.Error()+"\n")); werr != nil {
			g.log.Warn("drop: error file", "drop", name, "err", werr)
			return
		}
	} else {
		b, _ := json.MarshalIndent(st, "", "  ")
		if werr := writeAtomic(filepath.Join(dest, name+".status.json"), append(b, '\n')); werr != nil {
			g.log.Warn("drop: status file", "drop", name, "err", werr)
			return
		}
	}
	// The sidecar first: once it has left processing/ the drop is done (its status or error file
	// is written). A crash before the CDA files follow leaves them in processing/ without their
	// sidecar, and sweepFinished completes the move. (Moving the sidecar last let a crash between
	// the two leave a sidecar whose documents had gone: resumed, it failed with "aucun document".)
	for _, f := range all {
		if err := os.Rename(filepath.Join(proc, f), filepath.Join(dest, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			g.log.Warn("drop: move", "file", f, "err", err)
		}
	}
}

// sweepFinished moves the CDA files left in processing/ by a process that died while moving a
// finished drop (its sidecar already in sent/ or error/) to where their sidecar is. A file whose
// sidecar is still in processing/ belongs to a drop in progress and stays.
func (g *Gateway) sweepFinished(dir string) {
	proc := filepath.Join(dir, dropProcessing)
	ents, err := os.ReadDir(proc)
	if err != nil {
		return
	}
	has := func(sub, name string) bool {
		_, err := os.Stat(filepath.Join(dir, sub, name+".json"))
		return err == nil
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(strings.ToLower(n), ".xml") {
			continue
		}
		// NAME.xml or NAME.<n>.xml: the drop's name is the stem or the stem less its last part.
		stem := n[:len(n)-4]
		names := []string{stem}
		if i := strings.LastIndexByte(stem, '.'); i > 0 {
			names = append(names, stem[:i])
		}
		if slices.ContainsFunc(names, func(name string) bool { return has(dropProcessing, name) }) {
			continue
		}
		if sub := finishedIn(names, has); sub != "" {
			if err := os.Rename(filepath.Join(proc, n), filepath.Join(dir, sub, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				g.log.Warn("drop: move", "file", n, "err", err)
			}
		}
	}
}

// finishedIn returns the folder (sent or error) holding the sidecar of one of names, or "".
func finishedIn(names []string, has func(sub, name string) bool) string {
	for _, name := range names {
		for _, sub := range []string{dropSent, dropError} {
			if has(sub, name) {
				return sub
			}
		}
	}
	return ""
}

func (g *Gateway) sendDrop(ctx context.Context, proc, name string, files []string) (DropStatus, error) {
	side, err := os.ReadFile(filepath.Join(proc, name+".json"))
	if err != nil {
		return DropStatus{}, err
	}
	var sc dropSidecar
	dec := json.NewDecoder(strings.NewReader(string(side)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return DropStatus{}, invalidf("fichier %s.json illisible : %v", name, err)
	}
	if len(files) == 0 {
		return DropStatus{}, invalidf("aucun document CDA %s.xml à côté de %s.json", name, name)
	}
	h := sha256.New()
	h.Write(side)
	r := &Request{From: sc.From, To: sc.To, Cc: sc.Cc, Subject: sc.Subject, Body: sc.Body, DSN: sc.DSN, MDN: sc.MDN,
		PatientReplyBlocked: sc.PatientReplyBlocked}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(proc, f))
		if err != nil {
			return DropStatus{}, err
		}
		h.Write([]byte(f))
		h.Write(b)
		r.Documents = append(r.Documents, DocumentIn{CDA: b})
	}
	mailbox := sc.From
	if mailbox == "" {
		if len(g.o.Mailboxes) != 1 {
			return DropStatus{}, invalidf("champ from absent : la passerelle sert plusieurs boîtes")
		}
		mailbox = g.o.Mailboxes[0].Address
	}
	dropID := "drop:" + name + ":" + hex.EncodeToString(h.Sum(nil))
	s, err := g.Send(ctx, mailbox, r, dropID)
	if err != nil {
		return DropStatus{}, err
	}
	return DropStatus{Drop: name, ID: s.ID, MessageID: s.MessageID, State: string(s.State)}, nil
}
