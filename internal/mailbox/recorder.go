package mailbox

import (
	"context"

	"github.com/mssante/mssante/internal/audit"
	"github.com/mssante/mssante/lps"
)

// recorder stores the lps events of a session to ep in the audit trail (ECO.4.1.1), with the
// account's author; the trail redacts again. extra, when set, sees every event after the trail.
func (a *Account) recorder(ep lps.Endpoint, extra lps.Recorder) lps.Recorder {
	server := ep.String()
	return lps.RecorderFunc(func(ctx context.Context, ev lps.Event) {
		if a.o.Audit != nil {
			a.appendAudit(ctx, ev, server)
		}
		for _, r := range []lps.Recorder{a.o.Recorder, extra} {
			if r != nil {
				r.Record(ctx, ev)
			}
		}
	})
}

func (a *Account) appendAudit(ctx context.Context, ev lps.Event, server string) {
	action := audit.Action(ev.Action)
	if ev.Action == lps.ActionFetch {
		action = audit.ActionRead
	}
	e := audit.Event{Time: ev.Time, Author: a.author, Account: ev.Account, Action: action,
		Server: server, Request: ev.Request, Response: ev.Response, OK: ev.Err == nil}
	if ev.Err != nil {
		e.Error = ev.Err.Error()
	}
	if _, err := a.o.Audit.Append(context.WithoutCancel(ctx), e); err != nil {
		a.log.Error("audit trail", "err", err)
	}
}
