"""Renderers: turn a scan result (and, later, findings) into something a person or a program reads."""
