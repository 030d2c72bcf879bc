"""Artifact writers: a library (model.so), a C bundle, and publish (manifest, seal, one rename)."""
