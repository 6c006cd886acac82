"""Customer 360."""
