package costobs

import (
	_ "embed"
	"sync"
	"time"

	"github.com/officialasishkumar/costobs/sdk/go/internal/pricing"
)

// The price table and provider detection every SDK shares, written by `make sync-pricing`
// from pricing/prices.yaml and sdk/providers.json (a test fails when these copies are stale).
var (
	//go:embed prices.json
	pricesJSON []byte
	//go:embed providers.json
	providersJSON []byte
)

var table = sync.OnceValues(func() (*pricing.Table, error) { return pricing.Compile(pricesJSON) })

// price adds the local cost estimate, the table version (unknown models cost 0; the writer
// re-prices every event on arrival either way) and the canonical model; a call through a
// gateway is recorded under the provider of the model it names (pricing.QuoteCall, the
// writer's rule too).
func price(ev *wireEvent) error {
	t, err := table()
	if err != nil {
		return err
	}
	at, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
	if err != nil {
		return err
	}
	q, err := t.QuoteCall(pricing.Request{
		Provider: ev.Provider, Model: ev.Model, Quantities: ev.Usage.quantities(),
		ImageSize: ev.Usage.ImageSize, ImageQuality: ev.Usage.ImageQuality, At: at,
		ServiceTier: ev.ServiceTier, Batch: ev.Batch, Region: ev.Region,
	}, ev.GatewayHost != "")
	if err != nil {
		return err
	}
	ev.CostUSD = q.Cost()
	ev.PricingVersion = cut(q.Version, 64)
	if p := identifier(q.Provider); p != "" {
		ev.Provider = p
	}
	ev.CanonicalModel = cut(q.CanonicalModel, 256)
	return nil
}
