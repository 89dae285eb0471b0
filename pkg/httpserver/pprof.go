package httpserver

import (
	"net/http/pprof"

	"github.com/gin-gonic/gin"
)

// MountPprof exposes the Go profiler under /debug/pprof when enabled. It is
// off by default: profiles reveal internals and cost CPU.
func MountPprof(e *gin.Engine, enabled bool) {
	if !enabled {
		return
	}
	g := e.Group("/debug/pprof")
	g.GET("/", gin.WrapF(pprof.Index))
	g.GET("/cmdline", gin.WrapF(pprof.Cmdline))
	g.GET("/profile", gin.WrapF(pprof.Profile))
	g.GET("/symbol", gin.WrapF(pprof.Symbol))
	g.GET("/trace", gin.WrapF(pprof.Trace))
	g.GET("/:name", gin.WrapF(pprof.Index))
}
