//! The images root as a boundary. A folder cell like `../../home` or `/etc`, or a symbolic link
//! out of the images root, would send any image the service account can read to customs, which
//! nobody can take back. So a folder, and every photo that is a link, must resolve (links
//! followed, `..` removed) inside the images root, unless `--allow-outside-root` says otherwise.

use std::path::{Path, PathBuf};

use super::images::Scan;
use super::{Problem, Severity};
use crate::manifest::Column;

/// What `--allow-outside-root` allows, said the same way in every message.
const ALLOW: &str = "--allow-outside-root allows it";

/// The images root a row's folder and photos must stay in, resolved once per validation.
#[derive(Debug, Clone)]
pub enum Boundary {
    /// `--allow-outside-root`: no check.
    Anywhere,
    /// `real` is the canonical root, or why it cannot be resolved (then nothing is inside it).
    Inside {
        shown: PathBuf,
        real: Result<PathBuf, String>,
    },
}

impl Boundary {
    pub fn new(root: &Path, allow_outside_root: bool) -> Boundary {
        if allow_outside_root {
            return Boundary::Anywhere;
        }
        let real = std::fs::canonicalize(root).map_err(|e| e.to_string());
        let shown = real.as_ref().map_or(root, |r| r.as_path()).to_path_buf();
        Boundary::Inside { shown, real }
    }

    /// Why `path` (which exists) is outside the root, or `None` when it is inside (or anywhere
    /// is allowed). A path that cannot be resolved is left to the checks that read it.
    fn outside(&self, path: &Path) -> Option<String> {
        let Boundary::Inside { shown, real } = self else {
            return None;
        };
        let resolved = std::fs::canonicalize(path).ok()?;
        match real {
            Ok(root) if resolved.starts_with(root) => None,
            Ok(_) => Some(format!(
                "resolves outside the images root {} (to {}); {ALLOW}",
                shown.display(),
                resolved.display()
            )),
            Err(e) => Some(format!(
                "cannot be checked against the images root {}, which cannot be resolved ({e}); \
                 {ALLOW}",
                shown.display()
            )),
        }
    }

    /// A problem (column `folder`) when the row's folder `dir` resolves outside the root.
    pub fn check_folder(&self, row: usize, folder_cell: &str, dir: &Path) -> Option<Problem> {
        self.outside(dir).map(|message| Problem {
            row,
            column: Some(Column::Folder.name()),
            value: folder_cell.to_string(),
            message,
            severity: Severity::Error,
        })
    }

    /// Take the photos that are links resolving outside the root out of `scan`, each with a
    /// problem: the row is then invalid, and such a photo is never read again.
    pub fn check_photos(&self, row: usize, scan: &mut Scan) {
        if matches!(self, Boundary::Anywhere) {
            return;
        }
        let mut outside = Vec::new();
        scan.photos.retain(|photo| {
            let is_link = std::fs::symlink_metadata(&photo.path).is_ok_and(|m| m.is_symlink());
            match is_link.then(|| self.outside(&photo.path)).flatten() {
                Some(why) => {
                    outside.push(Problem {
                        row,
                        column: None,
                        value: photo.name.clone(),
                        message: format!("is a link that {why}"),
                        severity: Severity::Error,
                    });
                    false
                }
                None => true,
            }
        });
        scan.problems.extend(outside);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];

    #[test]
    fn folders_inside_pass_and_folders_outside_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(tmp.path().join("secret")).unwrap();
        let b = Boundary::new(&root, false);
        assert!(b.check_folder(2, "a/b", &root.join("a/b")).is_none());
        assert!(b.check_folder(2, "a/b/..", &root.join("a/b/..")).is_none());
        let p = b
            .check_folder(2, "../secret", &root.join("../secret"))
            .unwrap();
        assert_eq!(p.column, Some("folder"));
        assert!(
            p.message.starts_with("resolves outside the images root ")
                && p.message.contains("secret")
                && p.message.ends_with("--allow-outside-root allows it"),
            "{}",
            p.message
        );
        // A folder that does not exist is left to the scan, which says so.
        assert!(b.check_folder(2, "nope", &root.join("nope")).is_none());
        let anywhere = Boundary::new(&root, true);
        assert!(
            anywhere
                .check_folder(2, "../secret", &root.join("../secret"))
                .is_none()
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_out_of_the_root_are_refused_and_links_within_it_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let folder = root.join("row");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(tmp.path().join("outside.png"), PNG).unwrap();
        std::fs::write(root.join("shared.png"), PNG).unwrap();
        std::fs::write(folder.join("a.png"), PNG).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("outside.png"), folder.join("b.png")).unwrap();
        std::os::unix::fs::symlink(root.join("shared.png"), folder.join("c.png")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), root.join("escape")).unwrap();

        let b = Boundary::new(&root, false);
        let mut scan = super::super::images::scan(2, "row", &folder, 1000);
        b.check_photos(2, &mut scan);
        let names: Vec<&str> = scan.photos.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a.png", "c.png"]);
        assert_eq!(scan.problems.len(), 1, "{:?}", scan.problems);
        assert_eq!(scan.problems[0].value, "b.png");
        assert!(
            scan.problems[0]
                .message
                .starts_with("is a link that resolves outside the images root"),
            "{}",
            scan.problems[0].message
        );
        // A folder reached through a link out of the root is outside too.
        assert!(b.check_folder(2, "escape", &root.join("escape")).is_some());
        let mut allowed = super::super::images::scan(2, "row", &folder, 1000);
        Boundary::new(&root, true).check_photos(2, &mut allowed);
        assert_eq!(allowed.photos.len(), 3);
    }
}
