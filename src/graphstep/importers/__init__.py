"""Importers: models made elsewhere, as the same GraphSpec a graph file gives."""
