module github.com/terning-farewell/farewell/services/apply-gateway

go 1.26.0

replace (
	github.com/terning-farewell/farewell/pkg => ../../pkg
	github.com/terning-farewell/farewell/proto => ../../proto
)
