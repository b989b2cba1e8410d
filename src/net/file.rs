//! Files the operator names (a kubeconfig, a token file, certificates and keys, header files),
//! read with a size limit: `/dev/zero` or a multi-gigabyte file given by mistake ends in one
//! clear line instead of an allocation failure.

use std::io::Read;
use std::path::{Path, PathBuf};

/// A file that could not be read within its limit.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Opening or reading failed.
    #[error("cannot read {what} {path:?}: {source}")]
    Io {
        /// What the file is for (`kubeconfig`, `token file`, ...).
        what: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file holds more than `limit` bytes.
    #[error("{what} {path:?} is larger than {}, the most kwait reads", size(*limit))]
    TooLarge {
        /// What the file is for.
        what: String,
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
}

/// The most of a file named by `--header-file` or `--ca-cert` that is read: a CA bundle of
/// a few hundred certificates or a header file is far smaller; `/dev/zero` or a log file named
/// by mistake ends at once with exit 2 instead of filling memory.
pub const FILE_CAP: u64 = 1024 * 1024;

/// Reads at most `limit` bytes of `path`; more is an error naming `what`, the path and the
/// limit. The size in the metadata is checked first (a large regular file is refused without
/// reading it), and the read itself stops one byte past the limit (devices and pipes such as
/// `/dev/zero` report a size of 0).
pub fn read_capped(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, FileError> {
    let io = |source| FileError::Io {
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let too_large = || FileError::TooLarge {
        what: what.to_string(),
        path: path.to_path_buf(),
        limit,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() > limit {
        return Err(too_large());
    }
    let mut data = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(data)
}

/// `16 MiB`, `64 KiB`, `100 bytes`.
fn size(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_without_end_is_cut_at_the_limit() {
        let Err(e) = read_capped(Path::new("/dev/zero"), 64 * 1024, "token file") else {
            panic!("/dev/zero has no end")
        };
        assert_eq!(
            e.to_string(),
            "token file \"/dev/zero\" is larger than 64 KiB, the most kwait reads"
        );
    }

    #[test]
    fn a_file_within_the_limit_is_read_whole() {
        let dir = std::env::temp_dir().join(format!("kwait-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_capped(&f, 5, "x").unwrap(), b"12345");
        assert!(matches!(
            read_capped(&f, 4, "x"),
            Err(FileError::TooLarge { limit: 4, .. })
        ));
        let missing = read_capped(&dir.join("none"), 4, "client key").unwrap_err();
        assert!(missing.to_string().starts_with("cannot read client key "));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
