module github.com/trove-go/trove/services/api

go 1.26.8

require github.com/trove-go/trove/pkg v0.0.0

replace github.com/trove-go/trove/pkg => ../../pkg

require github.com/trove-go/trove/db v0.0.0

require github.com/gorilla/mux v1.8.1 // indirect

replace github.com/trove-go/trove/db => ../../db
