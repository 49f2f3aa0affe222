//! Small utilities every layer may use, depending on nothing else in the crate.
//!
//! Owns: atomic, durable file writes (`atomic`). Does not own: anything that knows about
//! repositories, YAML or the runtime.

pub mod atomic;
