//! The `wait-file` probe: ready when a regular file exists at the path (and, with
//! `--nonempty`, is not empty; with `--contains`, its first [`CONTENT_CAP`] bytes match).
//!
//! A file another container writes into a shared volume: the check is a `stat` (symbolic links
//! followed, as in a mounted Secret or ConfigMap), and, for `--contains` only, one read of at
//! most [`CONTENT_CAP`] bytes. A directory, a FIFO, a socket or a device where the file is
//! expected is named and never read: the file is opened with `O_NONBLOCK` and checked again
//! after opening, so that a FIFO swapped in between cannot block a thread. The whole check runs
//! on a blocking thread bounded by `--attempt-timeout` (a hung network file system).

use std::fs::Metadata;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use super::{BoxFuture, Check, Class, Observation, Probe};
use crate::net::text::printable;
use crate::plan::FileTarget;

/// The most of a file `--contains` reads: a marker or a small config file is far smaller; a
/// log that grows past it is matched on its beginning only (and said so).
pub const CONTENT_CAP: u64 = 1024 * 1024;

/// How much of the path and the pattern a line shows.
const SHOWN: usize = 200;

/// Waits for a file.
#[derive(Debug)]
pub struct FileProbe {
    target: FileTarget,
}

/// What `target` waits for, e.g. `file /shared/ready (non-empty, contains /^done$/)`.
pub fn describe(target: &FileTarget) -> String {
    let mut notes = Vec::new();
    if target.nonempty {
        notes.push("non-empty".to_string());
    }
    if let Some(re) = &target.contains {
        notes.push(format!("contains /{}/", printable(re.as_str(), SHOWN)));
    }
    let path = shown(&target.path);
    if notes.is_empty() {
        format!("file {path}")
    } else {
        format!("file {path} ({})", notes.join(", "))
    }
}

fn shown(path: &Path) -> String {
    printable(&path.to_string_lossy(), SHOWN)
}

impl FileProbe {
    /// The probe (nothing is read until the first check).
    pub fn new(target: &FileTarget) -> FileProbe {
        FileProbe {
            target: target.clone(),
        }
    }
}

/// What is at the path, when it is not a regular file.
fn not_a_file(m: &Metadata) -> Option<&'static str> {
    let t = m.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() || t.is_block_device() {
        Some("a device")
    } else {
        Some("not a regular file")
    }
}

/// One look at `target`, on a blocking thread.
fn look(target: &FileTarget) -> Check {
    let path = shown(&target.path);
    let missing = |e: &io::Error| {
        Check::Pending(
            Observation::new(Class::NotFound, "does not exist")
                .cause(format!("{path} does not exist ({e})"))
                .fix("check the path, and that the container that writes it mounts the same volume (emptyDir, PVC) at the path its writer uses"),
        )
    };
    let forbidden = |what: &str, e: &io::Error| {
        Check::Pending(
            Observation::new(Class::Forbidden, format!("{what}: permission denied"))
                .cause(format!("kwait's user may not {what} {path} ({e})"))
                .fix("give kwait's user read access: the pod's securityContext (runAsUser, fsGroup) or the file's mode (the Secret or ConfigMap volume's defaultMode)"),
        )
    };
    let meta = match std::fs::metadata(&target.path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return forbidden("look up", &e);
        }
        // ENOENT, or ENOTDIR (a file where a directory of the path should be): not there yet.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return missing(&e);
        }
        Err(e) => {
            return Check::Pending(
                Observation::new(Class::Other, "cannot be looked up")
                    .cause(format!("{path}: {e}"))
                    .fix("check the volume the path is on"),
            );
        }
    };
    if let Some(what) = not_a_file(&meta) {
        return Check::Pending(
            Observation::new(Class::Other, format!("is {what}, not a file"))
                .cause(format!("{path} exists but is {what}; wait-file waits for a regular file and does not read anything else"))
                .fix("name the file itself (for a directory, a file inside it)"),
        );
    }
    if target.nonempty && meta.len() == 0 {
        return Check::Pending(
            Observation::new(Class::NotReady, "exists, but is empty")
                .cause(format!("{path} exists and holds 0 bytes"))
                .fix("wait for its writer to fill it (write to a temporary name and rename it, so that readers never see it half written)"),
        );
    }
    let Some(re) = &target.contains else {
        return Check::Ready(format!("{path} exists ({} bytes)", meta.len()));
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&target.path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return forbidden("read", &e),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return missing(&e),
        Err(e) => {
            return Check::Pending(
                Observation::new(Class::Other, "cannot be opened")
                    .cause(format!("{path}: {e}"))
                    .fix("check the file and the volume it is on"),
            );
        }
    };
    // Replaced between the stat and the open: judged as what was opened.
    if let Some(what) = file.metadata().ok().as_ref().and_then(not_a_file) {
        return Check::Pending(Observation::new(
            Class::Other,
            format!("is {what}, not a file"),
        ));
    }
    let mut data = Vec::new();
    if let Err(e) = file.take(CONTENT_CAP + 1).read_to_end(&mut data) {
        return Check::Pending(
            Observation::new(Class::Other, "cannot be read")
                .cause(format!("{path}: {e}"))
                .fix("check the file and the volume it is on"),
        );
    }
    let longer = data.len() as u64 > CONTENT_CAP;
    data.truncate(CONTENT_CAP as usize);
    let text = String::from_utf8_lossy(&data);
    let pattern = printable(re.as_str(), SHOWN);
    if re.is_match(&text) {
        return Check::Ready(format!("{path} matches /{pattern}/"));
    }
    let mut o = Observation::new(
        Class::NotReady,
        format!("exists, but does not match /{pattern}/"),
    );
    o = if longer {
        o.cause(format!(
            "{path} is larger than 1 MiB; its first 1 MiB, the most kwait reads, does not match /{pattern}/"
        ))
        .fix("match a line its writer puts near the start, or a smaller marker file")
    } else {
        o.cause(format!(
            "{path} ({} bytes) does not match /{pattern}/",
            data.len()
        ))
        .fix("check the pattern against the file (grep -E); classes such as \\d and \\w are ASCII only")
    };
    Check::Pending(o)
}

impl Probe for FileProbe {
    fn describe(&self) -> String {
        describe(&self.target)
    }

    fn check(&mut self, attempt_timeout: Duration) -> BoxFuture<'_, Check> {
        let target = self.target.clone();
        Box::pin(async move {
            let path = shown(&target.path);
            let looked = tokio::task::spawn_blocking(move || look(&target));
            match tokio::time::timeout(attempt_timeout, looked).await {
                Ok(Ok(check)) => check,
                Ok(Err(e)) => Check::Pending(Observation::new(
                    Class::Other,
                    format!("the check did not finish: {e}"),
                )),
                Err(_) => Check::Pending(
                    Observation::new(Class::Timeout, "attempt timed out")
                        .cause(format!(
                            "looking at {path} took longer than {}",
                            crate::duration::format(attempt_timeout)
                        ))
                        .fix("the volume may hang (an unreachable NFS server); check its mount"),
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::test_runtime as rt;

    fn target(path: &Path, nonempty: bool, contains: Option<&str>) -> FileTarget {
        FileTarget {
            path: path.to_path_buf(),
            nonempty,
            contains: contains.map(|r| regex_lite::Regex::new(r).unwrap()),
        }
    }

    fn check(t: &FileTarget) -> Check {
        rt().block_on(FileProbe::new(t).check(Duration::from_secs(5)))
    }

    fn state(c: Check) -> String {
        match c {
            Check::Pending(o) => o.state,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_file_is_awaited_until_it_exists_is_filled_and_matches() {
        let dir = std::env::temp_dir().join(format!("kwait-file-probe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ready");
        let t = target(&f, true, Some("^status: (ok|done)$"));
        assert_eq!(state(check(&t)), "does not exist");
        std::fs::write(&f, "").unwrap();
        assert_eq!(state(check(&t)), "exists, but is empty");
        // Existence alone is enough without the options.
        assert!(matches!(check(&target(&f, false, None)), Check::Ready(_)));
        std::fs::write(&f, "status: starting\n").unwrap();
        assert_eq!(
            state(check(&t)),
            "exists, but does not match /^status: (ok|done)$/"
        );
        std::fs::write(&f, "x\nstatus: done\n").unwrap();
        // `^` and `$` are the text's ends unless the pattern says (?m).
        assert!(matches!(check(&t), Check::Pending(_)));
        let t = target(&f, true, Some("(?m)^status: (ok|done)$"));
        let c = check(&t);
        assert!(
            matches!(&c, Check::Ready(s) if s.ends_with("matches /(?m)^status: (ok|done)$/")),
            "{c:?}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_directory_or_a_fifo_is_named_and_never_read() {
        let dir = std::env::temp_dir().join(format!("kwait-file-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(
            state(check(&target(&dir, false, None))),
            "is a directory, not a file"
        );
        let fifo = dir.join("fifo");
        nix_mkfifo(&fifo);
        // No writer ever opens it: a read would block for ever.
        for t in [target(&fifo, false, None), target(&fifo, true, Some("x"))] {
            assert_eq!(state(check(&t)), "is a FIFO (named pipe), not a file");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    fn nix_mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    }

    #[test]
    fn a_file_larger_than_the_cap_is_matched_on_its_beginning_and_said_so() {
        let dir = std::env::temp_dir().join(format!("kwait-file-big-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("log");
        let mut body = vec![b'.'; CONTENT_CAP as usize];
        body.extend_from_slice(b"DONE");
        std::fs::write(&f, &body).unwrap();
        let c = check(&target(&f, false, Some("DONE")));
        let Check::Pending(o) = c else {
            panic!("{c:?}")
        };
        assert!(o.cause.unwrap().contains("first 1 MiB"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
