"""The `qahub` command: QA Hub administration from a terminal or a CI script."""
