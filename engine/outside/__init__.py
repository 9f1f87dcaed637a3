"""The outside world: price feeds, alert webhooks, the one HTTP retry policy."""
