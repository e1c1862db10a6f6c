"""Persona Lab from Python: `persona_lab.client.Client` wraps the HTTP API."""
