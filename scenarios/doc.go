// Package scenarios will own the scenario files (embedded), their strict
// loader and validator, and the orchestration of a run: provision, clients
// and nemesis, heal, check, report, teardown.
//
// It may import every other package of the module.
package scenarios
