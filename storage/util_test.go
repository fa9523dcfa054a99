package storage

import (
	"os"
	"runtime"
)

func createFile(path string) (*os.File, error) { return os.Create(path) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
