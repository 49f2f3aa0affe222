//! Printing findings: human (grouped by file), JSON and GitHub workflow annotations.
