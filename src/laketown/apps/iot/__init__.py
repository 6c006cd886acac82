"""IoT telemetry: fleet simulator, device registry and MQTT brokers, edge agent, ingest rules,
SiteWise-style asset models, windowed processing, predictive maintenance and alerts."""
