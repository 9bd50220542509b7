package pricing

import (
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

type vector struct {
	ID            string                     `json:"id"`
	Provider      string                     `json:"provider"`
	Model         string                     `json:"model"`
	At            time.Time                  `json:"at"`
	Usage         map[string]json.RawMessage `json:"usage"`
	ServiceTier   *string                    `json:"service_tier"`
	Batch         bool                       `json:"batch"`
	Region        *string                    `json:"region"`
	ExpectedCost  string                     `json:"expected_cost"`
	ExpectedEntry *string                    `json:"expected_entry"`
}

func loadTable(t testing.TB) *Table {
	t.Helper()
	data, err := os.ReadFile("../../prices.json")
	if err != nil {
		t.Fatal(err)
	}
	table, err := Compile(data)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// Every hand-worked vector of pricing/testdata/vectors.json, to the last digit.
func TestVectors(t *testing.T) {
	table := loadTable(t)
	data, err := os.ReadFile("../../../../pricing/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		TableVersion string   `json:"table_version"`
		Vectors      []vector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) < 100 {
		t.Fatalf("only %d vectors read", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		req := Request{Provider: v.Provider, Model: v.Model, At: v.At, Batch: v.Batch,
			Quantities: map[string]*big.Rat{}}
		if v.ServiceTier != nil {
			req.ServiceTier = *v.ServiceTier
		}
		if v.Region != nil {
			req.Region = *v.Region
		}
		for field, raw := range v.Usage {
			var text string
			if json.Unmarshal(raw, &text) == nil {
				switch field {
				case "image_size":
					req.ImageSize = text
					continue
				case "image_quality":
					req.ImageQuality = text
					continue
				}
			} else {
				text = string(raw)
			}
			r, ok := Decimal(text)
			if !ok {
				t.Fatalf("%s: bad quantity %s=%s", v.ID, field, raw)
			}
			if r.Sign() != 0 {
				req.Quantities[field] = r
			}
		}
		q, err := table.Quote(req)
		if err != nil {
			t.Errorf("%s: %v", v.ID, err)
			continue
		}
		if got := q.Cost(); got != v.ExpectedCost {
			t.Errorf("%s: cost %s, want %s", v.ID, got, v.ExpectedCost)
		}
		want := ""
		if v.ExpectedEntry != nil {
			want = *v.ExpectedEntry
		}
		if q.Entry != want {
			t.Errorf("%s: entry %q, want %q", v.ID, q.Entry, want)
		}
	}
}

func TestRoundHalfEven(t *testing.T) {
	for _, c := range []struct {
		num, den int64
		want     string
	}{
		{1, 2e18, "0"},     // 0.5 atto → 0 (even)
		{3, 2e18, "2"},     // 1.5 atto → 2
		{5, 2e18, "2"},     // 2.5 atto → 2
		{1, 3 * 1e18, "0"}, // 0.333… atto → 0
		{2, 3 * 1e18, "1"}, // 0.666… atto → 1
	} {
		if got := RoundAtto(big.NewRat(c.num, c.den)).String(); got != c.want {
			t.Errorf("%d/%d: %s, want %s", c.num, c.den, got, c.want)
		}
	}
	if got := FormatAtto(big.NewInt(2_700_000_000_000_000)); got != "0.0027" {
		t.Errorf("FormatAtto: %s", got)
	}
	if got := FormatAtto(new(big.Int).Mul(big.NewInt(3), atto)); got != "3" {
		t.Errorf("FormatAtto: %s", got)
	}
}

func TestCompileNamesTheBadField(t *testing.T) {
	_, err := Compile([]byte(`{"version":"x","providers":{},"entries":[{"id":"openai/m","provider":"openai","model":"m","source":"https://x","prices":[{"from":"2026-01-01","input":2.5}]}]}`))
	if err == nil || !strings.Contains(err.Error(), `entry "openai/m", field "prices[0].input"`) {
		t.Fatalf("error %v", err)
	}
}
