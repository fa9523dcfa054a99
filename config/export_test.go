package config

// LineCount is lineCount, for the external tests.
func LineCount(data []byte) int { return lineCount(data) }
