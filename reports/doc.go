// Package reports owns what a run leaves for people and CI: the
// self-contained HTML page of a run (index.html, with its plots inline and
// as files beside it), the store's index of runs, and JUnit.
//
// Write regenerates a run's page from what is on disk (history.jsonl or
// history.jsonl.gz, topology.jsonl, results.json, server.json,
// scenario.yaml), reading the history and the
// topology samples once, streaming, into bounded aggregates: its memory and
// the page's size do not grow with the length of the run. The page explains
// each anomaly in Redis Cluster terms: which node acknowledged a lost write,
// its role then, the faults in effect, the failover that followed and the
// final read that lacks it. Everything taken from the run is data and is
// escaped. WriteIndex lists a store's runs.
//
// Layout: report.go the page, results.go results.json, lost.go and explain.go the checkers'
// sections, scan.go the history pass, topology.go the topology pass,
// faults.go the nemesis timeline, plots.go the plots (gonum/plot), index.go
// the store's index, junit.go junit.xml.
//
// results.json is read as checker.Results, its one definition; what ran
// (backend, image, server) as checker.ServerRecord; topology.jsonl's
// samples as history.Sample. It imports checker and checker/history only;
// it only receives data.
package reports
