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
