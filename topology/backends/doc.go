// Package backends is where the harness meets every backend at once:
// Select turns a --backend name into a backend ("auto" picks docker where
// an engine answers, local otherwise), Open finds the backend that made a
// recorded cluster, and Cleanup removes what a killed harness left behind
// on all of them. A new backend (topology/ssh) is registered here: one
// more name in Names and one more case in Select.
//
// It imports topology and each backend package; cmd/harness and scenarios
// import it.
package backends
