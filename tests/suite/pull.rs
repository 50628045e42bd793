//! `mlreg pull` against hostile and unreliable sources: what `--dest` ends up holding, and
//! how timeouts, mirrors and redirects behave.
