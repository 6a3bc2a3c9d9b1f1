package main

import "github.com/mssante/mssante/internal/mailbox"

// What the tests read of the mail commands' credentials, now in internal/mailbox.
var (
	readToken   = mailbox.ReadToken
	tokenAuthor = mailbox.TokenAuthor
)
