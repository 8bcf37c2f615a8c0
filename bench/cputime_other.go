//go:build !unix

package main

import "time"

// processCPU is not measured off Unix; the CPU column then shows "-".
func processCPU() time.Duration { return 0 }
