package costobs

import (
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"testing"

	"github.com/officialasishkumar/costobs/sdk/go/internal/pricing"
)

// The embedded copies are written by `make sync-pricing`; these tests fail when they are stale.

func TestEmbeddedProvidersMatchTheSharedFile(t *testing.T) {
	shared, err := os.ReadFile("../providers.json")
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(shared, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(providersJSON, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("sdk/go/providers.json is stale: run `make sync-pricing`")
	}
}

func TestEmbeddedPriceTableVersionMatchesTheSource(t *testing.T) {
	source, err := os.ReadFile("../../pricing/prices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^version:\s*"?([^"\s]+)"?`).FindSubmatch(source)
	if m == nil {
		t.Fatal("no version in pricing/prices.yaml")
	}
	tbl, err := table()
	if err != nil {
		t.Fatal(err)
	}
	if tbl.Version() != string(m[1]) {
		t.Fatalf("embedded table %s, pricing/prices.yaml %s: run `make sync-pricing`", tbl.Version(), m[1])
	}
}

// The byte-exact check is the sync script's own (it renders the YAML as every SDK's copy);
// the Makefile hands its Python over in COSTOBS_PYTHON.
func TestEmbeddedPriceTableIsTheSyncedCopy(t *testing.T) {
	python := os.Getenv("COSTOBS_PYTHON")
	if python == "" {
		t.Skip("COSTOBS_PYTHON unset: run through `make test` (the project's .venv) for the byte-exact check")
	}
	out, err := exec.Command(python, "../../scripts/sync_pricing.py", "--check").CombinedOutput()
	if err != nil {
		t.Fatalf("stale copies: %s (%v)", out, err)
	}
}

// The provider the SDK stamps on unknown hosts is the one the pricing engine resolves.
func TestTheGatewayProviderIsTheOneTheEnginePrices(t *testing.T) {
	d, err := newDetector(providersJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.gatewayProvider != pricing.GatewayProvider || !d.includeUsageUnknown || len(d.costHeaders) == 0 {
		t.Fatalf("providers.json gateway_provider %q, engine %q", d.gatewayProvider, pricing.GatewayProvider)
	}
}
