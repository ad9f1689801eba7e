"""The config beyond one key: rules that look at several keys or sections together."""
