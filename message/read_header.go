package message

import (
	"bufio"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// readHeader reads one header block ending with a blank line.
func readHeader(br *bufio.Reader) (gomessage.Header, error) {
	h, err := textproto.ReadHeader(br)
	return gomessage.Header{Header: h}, err
}
