"""Reading configs: what a config may draw from its surroundings (environment, files), and rules across several keys."""
