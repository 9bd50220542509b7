package providertest

import (
	"context"

	costobs "github.com/officialasishkumar/costobs/sdk/go"
)

func costobsCtx() context.Context {
	return costobs.WithMetadata(context.Background(), costobs.Metadata{
		CustomerID: "cust-42", Feature: "chat", Tags: map[string]string{"pr": "1234"}})
}
