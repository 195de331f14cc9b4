"""What operators see: metrics and readiness, sync progress, and the status command."""
