module github.com/trove-go/trove/deploy/e2e

go 1.26.8

require github.com/trove-go/trove/pkg v0.0.0

replace github.com/trove-go/trove/pkg => ../../pkg
