//! Small utilities every layer may use; they depend on nothing else in the crate (only on
//! each other).
//!
//! Owns: atomic, durable file writes (`atomic`), counted nouns and whole words (`text`),
//! terminal colours (`style`), "did you mean" suggestions (`suggest`), times and durations as
//! the tool writes them (`time`), and the one redactor of secrets (`redact`). Does not own:
//! anything that knows about repositories, YAML, HTTP or the runtime.

pub mod atomic;
pub mod redact;
pub mod style;
pub mod suggest;
pub mod text;
pub mod time;
