package mailbox

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/mssante/mssante/autoconfig"
	"github.com/mssante/mssante/lps"
)

// Discover resolves the account's servers for its family through autoconfig (ECO.1.1.9): the
// document from https://autoconfig.<domain> (or Options.AutoconfigURL), fetched with the IGC Santé
// anchors plus the public roots (the public roots only without a Policy); entries of the family,
// placeholders substituted. The result is cached for the account's sessions.
func (a *Account) Discover(ctx context.Context) (*autoconfig.Servers, error) {
	return a.discover(ctx)
}

func (a *Account) discover(ctx context.Context) (*autoconfig.Servers, error) {
	a.discMu.Lock()
	defer a.discMu.Unlock()
	if a.servers != nil {
		return a.servers, nil
	}
	var client *http.Client // system roots only, when no policy could be built
	if a.o.Policy != nil {
		client = a.o.Policy.AutoconfigHTTPClient()
	}
	cfg, err := autoconfig.Discover(ctx, a.o.Address, autoconfig.Options{BaseURL: a.o.AutoconfigURL, HTTPClient: client})
	if err != nil {
		return nil, err
	}
	sel, err := cfg.Select(a.o.Family)
	if err != nil {
		return nil, fmt.Errorf("autoconfig %s: %w", cfg.URL, err)
	}
	a.servers = sel
	return sel, nil
}

// StartTLSEndpoint checks that an autoconfig server uses STARTTLS, the only mode of the API LPS
// (ECO.1.0.1, ECO.1.0.2: SMTP 587 and IMAP 143 with STARTTLS).
func StartTLSEndpoint(s autoconfig.Server) (lps.Endpoint, error) {
	if !strings.EqualFold(s.SocketType, "STARTTLS") {
		return lps.Endpoint{}, fmt.Errorf("autoconfig %s server %s uses socketType %s: the API LPS requires STARTTLS (ECO.1.0.1/ECO.1.0.2)",
			s.Protocol, s.Addr(), s.SocketType)
	}
	return lps.Endpoint{Host: s.Host, Port: s.Port}, nil
}

// ProbeError lists the failed steps of a connection test.
type ProbeError struct{ Failed []string }

func (e *ProbeError) Error() string {
	return "connection test failed: " + strings.Join(e.Failed, "; ")
}

// Probe is the connection test of autoconfig --test-connection (ECO.1.1.9): for each of the
// account's servers (given or discovered), TCP, STARTTLS, authentication, NOOP, QUIT/LOGOUT. It
// returns every step run and a *ProbeError when a server failed.
func (a *Account) Probe(ctx context.Context) ([]lps.Step, error) {
	var steps []lps.Step
	var failed []string
	for _, protocol := range []string{"smtp", "imap"} {
		ep, auth, err := a.endpoint(ctx, protocol)
		if err != nil {
			steps = append(steps, lps.Step{Protocol: protocol, Name: "starttls", Error: err.Error()})
			failed = append(failed, err.Error())
			continue
		}
		opts, err := a.lpsOptions(ep, nil)
		if err != nil {
			return steps, err
		}
		s := lps.Probe(ctx, protocol, ep, auth, opts)
		steps = append(steps, s...)
		if last := s[len(s)-1]; !last.OK {
			failed = append(failed, fmt.Sprintf("%s %s: %s: %s", protocol, ep, last.Name, last.Error))
		}
	}
	if len(failed) > 0 {
		return steps, &ProbeError{Failed: failed}
	}
	return steps, nil
}
