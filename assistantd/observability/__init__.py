"""What operators watch: Prometheus metrics (``/metrics``) and structured (JSON) logs."""
