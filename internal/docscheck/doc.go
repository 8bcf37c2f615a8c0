// Package docscheck holds tests that keep the project's documents true to
// the code: every test SECURITY.md cites exists in the package it names,
// every package a user imports keeps a runnable Example for pkg.go.dev,
// and every example docs/EXAMPLES.md names exists. It has no code of its
// own.
package docscheck
