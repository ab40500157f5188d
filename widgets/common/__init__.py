"""Widgets and helpers shared by several views."""
