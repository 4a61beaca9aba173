//! Workers, cancellation and progress: runs the per-row protocol over every valid row on
//! `concurrency` threads. The rate limit itself lives in the API client (`api::pacer`), so every
//! request of every worker goes through the same limiter.
