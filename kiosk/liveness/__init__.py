"""Liveness (presentation-attack detection): independent cues over a tracked face, and their fusion."""
