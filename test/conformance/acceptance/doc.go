// Package acceptance runs the engine inside a real Vault or OpenBao server: the operator's
// commands from README.md as written, logins through real auth methods, Vault Agent, a plugin
// process killed with SIGKILL, malformed HTTP requests. Each test starts its own dev server on
// 127.0.0.1 with a pachd stand-in behind it.
//
// Every test skips unless PACHYDERM_ACC=1, as HashiCorp's plugins gate their acceptance tests,
// so a plain `go test ./...` of the conformance module is unaffected. `make acceptance` sets it
// and finds the server binary (scripts/acceptance-server.sh): BAO_BIN or VAULT_BIN, else
// OpenBao 2.6.2 unpacked from ../shared/servers into a cache outside the repository.
//
// The tests are all in _test.go files; this file only documents the package.
package acceptance
