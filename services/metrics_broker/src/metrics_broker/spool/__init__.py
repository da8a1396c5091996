"""The durable spool: payloads acknowledged while InfluxDB could not take them, in PostgreSQL (the
broker's own schema), written to InfluxDB later, in order, by the drainer."""
