"""Blueprints: thin views that load with a schema, call the domain, and dump with a schema."""
