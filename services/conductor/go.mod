module github.com/trove-go/trove/services/conductor

go 1.26.8

require github.com/trove-go/trove/pkg v0.0.0

replace github.com/trove-go/trove/pkg => ../../pkg
