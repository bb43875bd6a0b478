//! Private key files (master key, checkpoint signing key): read only when no other user may
//! read them, written atomically with mode 0600 and never over an existing file.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;
use zeroize::Zeroizing;

use super::error::{CryptoError, Result};

/// Maps an I/O failure on a key file to an error naming the file and the operation.
pub(crate) fn io_err<'a>(
    path: &'a Path,
    op: &'static str,
) -> impl FnOnce(std::io::Error) -> CryptoError + 'a {
    move |source| CryptoError::KeyFileIo {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// Reads a private key file: a regular file, not readable by group or others, at most
/// `max_len` bytes; the bytes are wiped when dropped.
pub fn read_private(path: &Path, max_len: u64) -> Result<Zeroizing<Vec<u8>>> {
    let mut file = File::open(path).map_err(io_err(path, "open"))?;
    let meta = file.metadata().map_err(io_err(path, "inspect"))?;
    if !meta.is_file() {
        return Err(CryptoError::KeyFileNotRegular {
            path: path.to_path_buf(),
        });
    }
    check_permissions(path, &meta)?;
    if meta.len() > max_len {
        return Err(CryptoError::MalformedKeyFile {
            path: path.to_path_buf(),
            line: 0,
            reason: format!("file is {} bytes, larger than {max_len}", meta.len()),
        });
    }
    let mut raw = Zeroizing::new(Vec::with_capacity(max_len as usize + 1));
    (&mut file)
        .take(max_len + 1)
        .read_to_end(&mut raw)
        .map_err(io_err(path, "read"))?;
    Ok(raw)
}

/// Writes `contents` to a new file with mode 0600: a temp file (create_new), fsync, then a link
/// into place that never clobbers, then a directory fsync. The directory is made 0700 if missing.
pub fn write_private_new(path: &Path, contents: &[u8]) -> Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(CryptoError::KeyFileExists {
            path: path.to_path_buf(),
        });
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&parent).map_err(io_err(path, "create the directory of"))?;
    let file_name = path.file_name().ok_or_else(|| CryptoError::KeyFileIo {
        path: path.to_path_buf(),
        op: "name",
        source: std::io::Error::other("path has no file name"),
    })?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        Uuid::new_v4().simple()
    ));
    let result = write_tmp_and_link(path, &tmp, contents);
    let _ = fs::remove_file(&tmp);
    result?;
    if let Ok(dir) = File::open(&parent) {
        dir.sync_all()
            .map_err(io_err(path, "sync the directory of"))?;
    }
    Ok(())
}

fn write_tmp_and_link(path: &Path, tmp: &Path, contents: &[u8]) -> Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(tmp).map_err(io_err(path, "create"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_err(path, "set permissions of"))?;
    }
    file.write_all(contents).map_err(io_err(path, "write"))?;
    file.sync_all().map_err(io_err(path, "sync"))?;
    drop(file);
    match fs::hard_link(tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(CryptoError::KeyFileExists {
                path: path.to_path_buf(),
            })
        }
        // Filesystems without hard links: fall back to rename after re-checking.
        Err(_) => {
            if fs::symlink_metadata(path).is_ok() {
                return Err(CryptoError::KeyFileExists {
                    path: path.to_path_buf(),
                });
            }
            fs::rename(tmp, path).map_err(io_err(path, "rename into place"))
        }
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(unix)]
fn check_permissions(path: &Path, meta: &fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::InsecureKeyFile {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _meta: &fs::Metadata) -> Result<()> {
    Ok(())
}
