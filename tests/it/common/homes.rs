//! Trees of home directories for the `sync-homes` tests: hundreds of users, the odd names
//! kubespawner's escaping produces, `_shared`, `_shared-public`, nested files, symlinks (a
//! dangling one too), hard links, a 0600 file; and the comparison of two trees with rsync.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const ODD: [&str; 6] = [
    "user-402i2c-2eorg",
    "first-2elast",
    "a-2db-2dc",
    "-42ob",
    "x9",
    "0-5f0",
];

/// A tree of `n` users plus the odd names, `_shared` and `_shared-public`, a top-level file
/// and a dangling top-level symlink; returns every top-level name, sorted.
pub fn generate(root: &Path, n: usize) -> Vec<String> {
    let mut names: Vec<String> = (0..n).map(|i| format!("user{i:04}")).collect();
    names.extend(ODD.iter().map(|s| s.to_string()));
    names.push("_shared".into());
    names.push("_shared-public".into());
    for (i, name) in names.iter().enumerate() {
        let home = root.join(name);
        fs::create_dir_all(home.join(".jupyter/lab/workspaces")).unwrap();
        fs::create_dir_all(home.join("projects/deep/er/still")).unwrap();
        fs::write(
            home.join("notebook.ipynb"),
            format!("{{\"user\": \"{name}\"}}\n"),
        )
        .unwrap();
        fs::write(
            home.join("projects/deep/er/still/data.csv"),
            "x,y\n".repeat(i % 50 + 1),
        )
        .unwrap();
        fs::write(home.join(".jupyter/lab/workspaces/default.json"), "{}").unwrap();
        let private = home.join(".ssh-key");
        fs::write(&private, "secret").unwrap();
        fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
        symlink("projects/deep/er/still/data.csv", home.join("data")).unwrap();
        symlink("/nonexistent/target", home.join("dangling")).unwrap();
        if i % 7 == 0 {
            fs::hard_link(home.join("notebook.ipynb"), home.join("hardlink.ipynb")).unwrap();
        }
    }
    // Top-level entries that are not directories: copied as themselves.
    fs::write(root.join("README.txt"), "homes of the hub\n").unwrap();
    symlink("/nonexistent/home", root.join("lost-link")).unwrap();
    names.push("README.txt".into());
    names.push("lost-link".into());
    names.sort();
    names
}

/// What `rsync -anc --delete --itemize-changes SRC/ DST/` would change (the top directory's
/// own time left out): empty when DST equals SRC (contents, modes, times, symlinks, hard
/// links, ACLs, xattrs, numeric owners).
pub fn differences(src: &Path, dst: &Path) -> Vec<String> {
    let o = Command::new(real_rsync())
        .args(["-anciHAX", "--delete", "--numeric-ids"])
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", dst.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.ends_with(" ./"))
        .map(str::to_string)
        .collect()
}

/// The system's rsync (tests may put a stand-in first on the binary's `PATH`, never on ours).
pub fn real_rsync() -> PathBuf {
    let o = Command::new("sh")
        .args(["-c", "command -v rsync"])
        .output()
        .unwrap();
    let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(!p.is_empty(), "rsync is not installed");
    PathBuf::from(p)
}
