"""Crossbook services: one package per service."""
