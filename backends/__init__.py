"""Backends: each compiles a lowered PrimFunc into a callable Module."""
