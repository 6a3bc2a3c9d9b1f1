package mailstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/mssante/mssante/internal/store"
)

// SettingsPackage is the name of the mail settings' schema in the store's migrations table.
//
// The settings are a schema of their own, keyed by the account's address rather than by a row
// of mail_accounts: they are the professional's choices, not part of the index, so that they
// survive a rebuilt index (and the index's schema versions stay its own).
const SettingsPackage = "mail_settings"

var settingsMigration = store.Migration{Package: SettingsPackage, Version: 1, SQL: `
CREATE TABLE mail_settings (
	account    TEXT PRIMARY KEY,
	mdn        TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
`}

// MDNPolicy says what happens when a received mail asking for a read receipt has been displayed
// (ECO.3.1.6).
type MDNPolicy string

const (
	// MDNNever sends no receipt; the mail is flagged $MDNSent so that no client asks again.
	MDNNever MDNPolicy = "never"
	// MDNAsk asks the professional each time (the default: RFC 8098 §2.1 leaves the choice to
	// the user, and a receipt tells the sender when the mail was read).
	MDNAsk MDNPolicy = "ask"
	// MDNAlways sends the receipt as soon as the mail is displayed.
	MDNAlways MDNPolicy = "always"
)

// DefaultMDNPolicy is the policy of an account that chose none.
const DefaultMDNPolicy = MDNAsk

// ParseMDNPolicy reads "never", "ask" or "always".
func ParseMDNPolicy(s string) (MDNPolicy, error) {
	switch p := MDNPolicy(strings.ToLower(strings.TrimSpace(s))); p {
	case MDNNever, MDNAsk, MDNAlways:
		return p, nil
	}
	return "", fmt.Errorf("unknown read receipt policy %q (never, ask, always)", s)
}

// Settings are the mail settings of one account.
type Settings struct {
	Account string    `json:"account"`
	MDN     MDNPolicy `json:"mdn"`
	// Default is set when the account chose nothing (the values are the defaults).
	Default bool `json:"default,omitempty"`
}

// Settings returns the settings of account, the defaults when it has none.
func (s *Store) Settings(ctx context.Context, account string) (Settings, error) {
	account = strings.ToLower(strings.TrimSpace(account))
	out := Settings{Account: account}
	var mdn string
	err := s.db.QueryRowContext(ctx, `SELECT mdn FROM mail_settings WHERE account = ?`, account).Scan(&mdn)
	if errors.Is(err, sql.ErrNoRows) {
		out.MDN, out.Default = DefaultMDNPolicy, true
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("reading the settings of %s: %w", account, err)
	}
	if out.MDN, err = ParseMDNPolicy(mdn); err != nil {
		return out, fmt.Errorf("settings of %s: %w", account, err)
	}
	return out, nil
}

// SetMDNPolicy records the read receipt policy of account.
func (s *Store) SetMDNPolicy(ctx context.Context, account string, p MDNPolicy) error {
	if _, err := ParseMDNPolicy(string(p)); err != nil {
		return err
	}
	account = strings.ToLower(strings.TrimSpace(account))
	_, err := s.db.ExecContext(ctx, `INSERT INTO mail_settings (account, mdn, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (account) DO UPDATE SET mdn = excluded.mdn, updated_at = excluded.updated_at`,
		account, string(p), formatTime(s.opts.Now()))
	if err != nil {
		return fmt.Errorf("recording the read receipt policy of %s: %w", account, err)
	}
	return nil
}

// AddFlag records in the index a flag this program set on the server for message uid of folder
// (the next synchronisation confirms it from the server).
func (s *Store) AddFlag(ctx context.Context, account, folder string, uid uint32, flag string) error {
	m, err := s.Get(ctx, account, folder, uid)
	if err != nil {
		return err
	}
	if hasFlag(m.Flags, flag) {
		return nil
	}
	fl := normFlags(append(m.Flags, flag))
	if _, err := s.db.ExecContext(ctx, `UPDATE mail_messages SET flags = ?, seen = ? WHERE id = ?`,
		strings.Join(fl, " "), boolInt(hasFlag(fl, `\Seen`)), m.ID); err != nil {
		return fmt.Errorf("recording flag %s of UID %d: %w", flag, uid, err)
	}
	return nil
}
