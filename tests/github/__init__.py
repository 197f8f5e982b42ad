"""Test helpers that speak GitHub: published example payloads, signed deliveries."""
