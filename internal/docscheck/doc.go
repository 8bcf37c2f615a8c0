// Package docscheck holds tests that keep the project's documents true to
// the code: every test SECURITY.md cites exists in the package it names.
// It has no code of its own.
package docscheck
