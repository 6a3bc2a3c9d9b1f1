package main

import (
	"context"
	"strings"

	"github.com/mssante/mssante/internal/mailstore"
	"github.com/mssante/mssante/internal/outbox"
)

// mailReports gives the outbox the reports the local mail index found during sync (DSN, MDN,
// bounces, matched by Original-Message-ID, In-Reply-To or References).
type mailReports struct{ ms *mailstore.Store }

func (r mailReports) ReportsFor(ctx context.Context, messageID string) ([]outbox.Report, error) {
	found, err := r.ms.ReportsFor(ctx, messageID)
	if err != nil {
		return nil, err
	}
	var out []outbox.Report
	for _, f := range found {
		st, ok := outbox.Classify(f.Kind, f.Action, f.Disposition, f.Failed)
		if !ok {
			continue
		}
		reason := strings.TrimSpace(f.Status + " " + f.Reason)
		if st == outbox.Read && reason == "" {
			reason = f.Disposition
		}
		out = append(out, outbox.Report{State: st, Reason: reason, Recipient: f.Recipient, At: f.Date})
	}
	return out, nil
}
