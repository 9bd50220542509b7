module github.com/officialasishkumar/costobs/sdk/go/providertest

go 1.26.0

require (
	github.com/officialasishkumar/costobs/sdk/go v0.0.0
	github.com/openai/openai-go/v3 v3.98.0
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
)

require (
	github.com/coder/websocket v1.8.15 // indirect
	github.com/tidwall/gjson v1.20.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.2.1 // indirect
	github.com/tidwall/sjson v1.2.5 // indirect
	golang.org/x/text v0.42.0 // indirect
)

replace github.com/officialasishkumar/costobs/sdk/go => ../
