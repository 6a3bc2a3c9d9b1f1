package trust

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

var oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

// maxPKCS7Certs bounds the number of certificates taken from one bundle.
const maxPKCS7Certs = 256

// PKCS7Certificates extracts the certificates of a DER PKCS #7 / CMS SignedData bundle (RFC 5652),
// such as the IGC Santé "Chaine_de_certification" .p7b. It reads only what it needs:
//
//	ContentInfo ::= SEQUENCE { contentType OID (signedData), content [0] EXPLICIT SignedData }
//	SignedData  ::= SEQUENCE { version INTEGER, digestAlgorithms SET, encapContentInfo SEQUENCE,
//	                           certificates [0] IMPLICIT SET OF Certificate OPTIONAL, … }
//
// Signatures of the bundle are not checked (a "certs-only" bundle has none): the caller trusts
// certificates by fingerprint, not by the bundle.
func PKCS7Certificates(der []byte) ([]*x509.Certificate, error) {
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	rest, err := asn1.Unmarshal(der, &ci)
	if err != nil {
		return nil, fmt.Errorf("pkcs7: content info: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("pkcs7: trailing data")
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("pkcs7: content type %v is not signedData", ci.ContentType)
	}
	var sd asn1.RawValue
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("pkcs7: signed data: %w", err)
	}
	if sd.Class != asn1.ClassUniversal || sd.Tag != asn1.TagSequence {
		return nil, errors.New("pkcs7: signed data is not a sequence")
	}
	// Walk the SignedData fields until the [0] IMPLICIT certificates.
	body := sd.Bytes
	for len(body) > 0 {
		var field asn1.RawValue
		body, err = asn1.Unmarshal(body, &field)
		if err != nil {
			return nil, fmt.Errorf("pkcs7: signed data field: %w", err)
		}
		if field.Class == asn1.ClassContextSpecific && field.Tag == 0 && field.IsCompound {
			return parseCertSet(field.Bytes)
		}
	}
	return nil, errors.New("pkcs7: no certificates")
}

func parseCertSet(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for len(b) > 0 {
		if len(out) == maxPKCS7Certs {
			return nil, fmt.Errorf("pkcs7: more than %d certificates", maxPKCS7Certs)
		}
		var raw asn1.RawValue
		var err error
		b, err = asn1.Unmarshal(b, &raw)
		if err != nil {
			return nil, fmt.Errorf("pkcs7: certificate %d: %w", len(out)+1, err)
		}
		if raw.Class != asn1.ClassUniversal || raw.Tag != asn1.TagSequence {
			continue // other certificate choices (attribute certificates): not ours
		}
		c, err := x509.ParseCertificate(raw.FullBytes)
		if err != nil {
			return nil, fmt.Errorf("pkcs7: certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("pkcs7: no certificates")
	}
	return out, nil
}
