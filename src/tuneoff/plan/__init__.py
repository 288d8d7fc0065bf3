"""Plan: what will run. The config (validated, frozen, from TOML), its loading and overrides, and the
jobs it asks for with their identities. Torch-free; reads config files and nothing else."""
