package gateway

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mssante/mssante/internal/outbox"
)

type metrics struct {
	queued, sends, failures, received, syncErrors *prometheus.CounterVec
	delivered, deliveryFailures, webhooks         *prometheus.CounterVec
	latency                                       *prometheus.HistogramVec
	lastSync                                      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, g *Gateway) *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "mssante_gateway", Name: name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	m := &metrics{
		queued:           counter("messages_queued_total", "Messages stored in the outbox by this process.", "mailbox"),
		sends:            counter("sends_total", "Submissions accepted by the operator.", "mailbox"),
		failures:         counter("send_failures_total", "Submissions refused or failed.", "mailbox"),
		received:         counter("documents_received_total", "Received documents committed locally.", "mailbox"),
		syncErrors:       counter("sync_errors_total", "Failed synchronisations.", "mailbox"),
		delivered:        counter("deliveries_total", "Documents delivered.", "target"),
		deliveryFailures: counter("delivery_failures_total", "Failed delivery attempts.", "target"),
		webhooks:         counter("webhook_posts_total", "Webhook posts by outcome.", "outcome"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "mssante_gateway", Name: "send_seconds",
			Help: "Duration of one submission (MAIL FROM to the answer to DATA).", Buckets: prometheus.DefBuckets}, []string{"mailbox"}),
		lastSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "mssante_gateway", Name: "last_sync_timestamp_seconds",
			Help: "Unix time of the last successful sync of each mailbox."}, []string{"mailbox"}),
	}
	reg.MustRegister(m.latency, m.lastSync)
	reg.MustRegister(&queueCollector{g: g, desc: prometheus.NewDesc("mssante_gateway_outbox_depth",
		"Outbox messages by state (queued and sending are the queue).", []string{"mailbox", "state"}, nil)})
	return m
}

// queueCollector reads the outbox depth from the store at each scrape.
type queueCollector struct {
	g    *Gateway
	desc *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, mb := range c.g.o.Mailboxes {
		addr := canon(mb.Address)
		for _, st := range []outbox.State{outbox.Queued, outbox.Sending, outbox.Failed} {
			es, err := c.g.ob.List(ctx, outbox.Filter{Account: addr, States: []outbox.State{st}})
			if err != nil {
				continue
			}
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(len(es)), addr, string(st))
		}
	}
}
