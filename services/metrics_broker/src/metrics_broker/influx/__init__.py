"""InfluxDB 1.x: the line protocol (`line_protocol`), the HTTP client (`client`), databases created on
first use (`databases`), and the group-commit writer requests await (`writer`)."""
