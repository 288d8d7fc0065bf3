"""Models: where a player's model comes from (a registry of sources) and the role table of each architecture."""
