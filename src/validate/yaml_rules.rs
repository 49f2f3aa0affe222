//! Rules over every YAML file of a repository: syntax, duplicate keys, truthy values and
//! keys, trailing spaces, and the final line break.

use super::Finding;
use crate::repo::Files;

pub fn check(files: &Files) -> Vec<Finding> {
    let _ = files;
    Vec::new()
}
