package operator

import (
	"bytes"
	"errors"
	"strings"
)

// parseOAuthBearer reads the client response of SASL OAUTHBEARER (RFC 7628 §3.1):
//
//	gs2-header ("n,a=" address ",") ^A [host=… ^A port=… ^A] "auth=Bearer " token ^A ^A
//
// The authorization identity names the mailbox; channel binding ("p=") is refused.
func parseOAuthBearer(resp []byte) (user, token string, err error) {
	if !bytes.HasSuffix(resp, []byte("\x01\x01")) {
		return "", "", errors.New("oauthbearer: missing terminator")
	}
	gs2, rest, ok := strings.Cut(string(resp[:len(resp)-2]), "\x01")
	if !ok {
		return "", "", errors.New("oauthbearer: missing gs2 header")
	}
	fields := strings.Split(gs2, ",")
	if len(fields) < 2 || (fields[0] != "n" && fields[0] != "y") {
		return "", "", errors.New("oauthbearer: unsupported gs2 header")
	}
	if a, ok := strings.CutPrefix(fields[1], "a="); ok {
		user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(a)
	}
	for _, kv := range strings.Split(rest, "\x01") {
		k, v, _ := strings.Cut(kv, "=")
		if strings.EqualFold(k, "auth") {
			scheme, t, ok := strings.Cut(v, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				return "", "", errors.New("oauthbearer: auth is not a bearer token")
			}
			token = strings.TrimSpace(t)
		}
	}
	if user == "" || token == "" {
		return "", "", errors.New("oauthbearer: authorization identity or token missing")
	}
	return user, token, nil
}

// oauthBearerServer is the server side of SASL OAUTHBEARER (go-sasl has none). Like XOAUTH2, a
// refused token gets the JSON error challenge of RFC 7628 §3.2.2; the client's answer to it (a
// single ^A) ends the exchange with fail.
type oauthBearerServer struct {
	check  func(user, token string) error
	fail   error
	failed bool
}

func (s *oauthBearerServer) Next(resp []byte) ([]byte, bool, error) {
	if s.failed {
		return nil, true, s.fail
	}
	if resp == nil {
		return []byte{}, false, nil // no initial response: ask for it
	}
	user, token, err := parseOAuthBearer(resp)
	if err == nil {
		err = s.check(user, token)
	}
	if err != nil {
		s.failed = true
		return xoauth2Challenge, false, nil
	}
	return nil, true, nil
}
