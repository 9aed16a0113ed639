module example.invalid/opentrail/bindings/go

go 1.22
