package httpapi_test

// The participant routes, shared by the integration and fuzz tests.
const (
	sendPath   = "/api/auth/send-verification-code"
	verifyPath = "/api/auth/verify-code"
)
