package mllp_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mssante/mssante/hl7/mllp"
)

// Send an MDM (built by hl7.BuildMDM) to the record system and decide from its ACK.
func ExampleClient_Send() {
	var msg []byte // hl7.BuildMDM(…)
	c := &mllp.Client{DialTimeout: 5 * time.Second, AckTimeout: 30 * time.Second}
	ack, err := c.Send(context.Background(), "dpi.ch-essai.example:2575", msg)
	switch {
	case err != nil:
		fmt.Println("outcome unknown, send again later with the same MSH-10:", err)
	case ack.Accepted():
		fmt.Println("integrated")
	case ack.Retry():
		fmt.Println("rejected for now, send again later:", ack.Err())
	default:
		fmt.Println("rejected:", ack.Err())
	}
}
