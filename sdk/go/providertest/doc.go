// Package providertest holds the Go SDK's tests that need third-party modules: the real
// provider SDKs against httptest fakes, the wire-schema check, the end-to-end run through
// `costobs up` and the install proof. It is a module of its own so that the SDK's go.mod
// stays free of requirements.
package providertest
