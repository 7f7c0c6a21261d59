// Package scenarios owns the scenario files (embedded), their strict
// loader and validator, and the orchestration of a run: provision, clients
// and nemesis, heal, check, report, teardown; and the canary (Canary),
// which plants known anomalies in a real recorded run and requires each
// caught by its checker.
//
// It may import every other package of the module.
package scenarios
