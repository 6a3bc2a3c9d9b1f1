package psc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// UserInfo is the userinfo answer of PSC. Raw keeps every claim as received.
type UserInfo struct {
	Subject           string `json:"sub"`
	SubjectNameID     string `json:"SubjectNameID"` // national id: IDNPS ("8"+RPPS) for RPPS holders
	PreferredUsername string `json:"preferred_username"`
	GivenName         string `json:"given_name"`
	FamilyName        string `json:"family_name"`
	Email             string `json:"email"`
	// SubjectRefPro is the professional's activities (exercices, structures), as received.
	SubjectRefPro json.RawMessage `json:"SubjectRefPro"`
	// SubjectRole is the list of "profession^OID" codes.
	SubjectRole []string `json:"SubjectRole"`
	// Raw is every claim as received.
	Raw map[string]json.RawMessage `json:"-"`
}

// UserInfo asks the userinfo endpoint with an access token.
func (c *Client) UserInfo(ctx context.Context, access []byte) (*UserInfo, error) {
	if c.meta.UserinfoEndpoint == "" {
		return nil, fmt.Errorf("psc: userinfo: no endpoint in the discovery document")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.meta.UserinfoEndpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("psc: userinfo: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+string(access))
	req.Header.Set("Accept", "application/json")
	body, status, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("psc: userinfo: %w", err)
	}
	if status != http.StatusOK {
		return nil, decodeError("userinfo", status, body)
	}
	var u UserInfo
	if err := json.Unmarshal(body, &u); err != nil {
		return nil, fmt.Errorf("psc: userinfo: %w", err)
	}
	if err := json.Unmarshal(body, &u.Raw); err != nil {
		return nil, fmt.Errorf("psc: userinfo: %w", err)
	}
	return &u, nil
}
