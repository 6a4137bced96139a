"""The status page's HTTP server, its HTML page and Prometheus metrics."""
