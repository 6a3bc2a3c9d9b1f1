package message

import "errors"

// todo: replace by xdm.Build once it lands.
var errPending = errors.New("xdm.Build not available yet")

func buildXDM(cdas [][]byte, d *Draft, opts *Options) ([]byte, error) { return nil, errPending }
