"""The core's reference models."""
