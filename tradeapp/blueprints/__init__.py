"""Blueprints, one package per domain."""
