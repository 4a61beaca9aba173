//! Integration tests: rerun.
