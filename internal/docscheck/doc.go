// Package docscheck holds tests that keep the project's documents true to
// the code: every test SECURITY.md cites exists in the package it names,
// and every package a user imports keeps a runnable Example for
// pkg.go.dev. It has no code of its own.
package docscheck
