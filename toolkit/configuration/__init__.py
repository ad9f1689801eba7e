"""Configs: the schema's fields and defaults, reading and checking a config file, ai-toolkit's keys, labels, docs/config.md and the UI's schema."""
