module github.com/trove-go/trove/db

go 1.26.8
