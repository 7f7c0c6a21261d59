// Package reports will own what a run leaves for people and CI: the
// self-contained HTML page, plots (gonum/plot), porcupine's visualization,
// JUnit and JSON.
//
// It may import checker and checker/history; it only receives data.
package reports
