//! The atomic file sink, for `rowpipe export -o FILE`.
//!
//! Writes to `FILE.part` beside the target, fsyncs it, and renames it to `FILE` only after
//! the stream ended without error, so `FILE` is either absent (or the previous complete
//! export) or complete: never a shorter file that looks finished. On any failure, and when
//! the export is interrupted (the future dropped, e.g. on Ctrl-C), the `.part` file is
//! removed, unless the export can be resumed ([`PartMode`]): then it stays for
//! `--resume`, which keeps its complete rows and appends the rest.
//!
//! A target that exists and is not a regular file (`/dev/null`, a named pipe, a terminal)
//! is written to in place, as a shell redirect would: renaming over it would replace a
//! device with a file (as root, `/dev/null` itself).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::SinkError;
use super::writer::drain;
use crate::progress::Progress;

/// Where the bytes go in `FILE.part`, and whether it outlives a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartMode {
    /// A new `FILE.part`, removed if the export fails.
    #[default]
    Fresh,
    /// A new `FILE.part`, kept if the export fails so that it can be resumed.
    FreshKept,
    /// The first `len` bytes of the existing `FILE.part`, then the stream; kept if the
    /// export fails again.
    Append { len: u64 },
}

/// Writes the stream to `target` atomically; see the module docs.
pub async fn write_to_file<S, E>(
    stream: S,
    target: &Path,
    mode: PartMode,
    progress: &Progress,
) -> Result<(), SinkError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |error| SinkError::Write {
            target: path,
            error,
        }
    };
    if target.is_dir() {
        return Err(write_error(target)(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory",
        )));
    }
    if let Ok(metadata) = tokio::fs::metadata(target).await
        && !metadata.is_file()
    {
        if let PartMode::Append { .. } = mode {
            return Err(write_error(target)(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "it is not a regular file, so there is nothing to resume",
            )));
        }
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(target)
            .await
            .map_err(write_error(target))?;
        return drain(stream, &mut file, progress)
            .await
            .map_err(|error| error.at(target));
    }
    let mut part = PartFile::open(target, mode)
        .await
        .map_err(write_error(&part_path(target)))?;
    if let Err(error) = drain(stream, &mut part.file, progress).await {
        if part.committed {
            // Kept for a resume: let the bytes written reach the file before anyone
            // reads it (tokio writes in the background).
            let _ = part.file.flush().await;
        }
        return Err(error.at(part.path.clone()));
    }
    part.commit(target).await.map_err(write_error(target))
}

/// `dir/name.csv` -> `dir/name.csv.part`.
pub fn part_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().map(OsString::from).unwrap_or_default();
    name.push(".part");
    target.with_file_name(name)
}

/// A `.part` file that removes itself unless committed (or kept for a resume).
struct PartFile {
    path: PathBuf,
    file: tokio::fs::File,
    /// Renamed into place, or to be left for a resume: either way not removed.
    committed: bool,
}

impl PartFile {
    /// A new part file is created exclusively (`O_CREAT | O_EXCL`): never through a
    /// symbolic link, never over a file that is already there (another export's, or one
    /// left to resume), with the permissions a shell redirect would give `FILE` (0666
    /// less the umask). An existing one, to append to, must be a regular file of this
    /// user's, opened without following a link.
    async fn open(target: &Path, mode: PartMode) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let path = part_path(target);
        let file = match mode {
            PartMode::Fresh | PartMode::FreshKept => {
                tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o666)
                    .open(&path)
                    .await?
            }
            PartMode::Append { len } => {
                let mut file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .await?;
                let metadata = file.metadata().await?;
                // SAFETY: geteuid has no preconditions and cannot fail.
                let me = unsafe { libc::geteuid() };
                if !metadata.is_file() || metadata.uid() != me {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        "not a regular file of this user's; refusing to append to it",
                    ));
                }
                file.set_len(len).await?;
                file.seek(std::io::SeekFrom::Start(len)).await?;
                file
            }
        };
        Ok(Self {
            path,
            file,
            committed: mode != PartMode::Fresh,
        })
    }

    /// Makes the data durable, then puts it in place under its final name.
    async fn commit(mut self, target: &Path) -> std::io::Result<()> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        tokio::fs::rename(&self.path, target).await?;
        self.committed = true;
        // The rename itself is durable only once the directory is synced.
        let directory = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        tokio::task::spawn_blocking(move || std::fs::File::open(directory)?.sync_all())
            .await
            .map_err(std::io::Error::other)?
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn chunks(
        items: Vec<Result<&'static [u8], &'static str>>,
    ) -> impl Stream<Item = Result<Bytes, &'static str>> + Unpin {
        stream::iter(items.into_iter().map(|item| item.map(Bytes::from_static)))
    }

    #[tokio::test]
    async fn a_complete_stream_lands_under_the_final_name() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let progress = Progress::new();
        write_to_file(
            chunks(vec![Ok(b"a,b\n"), Ok(b"1,2\n")]),
            &target,
            PartMode::Fresh,
            &progress,
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"a,b\n1,2\n");
        assert!(!part_path(&target).exists());
        assert_eq!(progress.bytes(), 8);
    }

    #[tokio::test]
    async fn a_named_pipe_is_written_in_place_not_replaced() {
        use std::io::Read;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::FileTypeExt;

        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("pipe");
        let path = std::ffi::CString::new(target.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
        let reading = target.clone();
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            std::fs::File::open(reading)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            bytes
        });
        write_to_file(
            chunks(vec![Ok(b"a,b\n"), Ok(b"1,2\n")]),
            &target,
            PartMode::Fresh,
            &Progress::new(),
        )
        .await
        .unwrap();
        assert_eq!(reader.join().unwrap(), b"a,b\n1,2\n");
        assert!(std::fs::metadata(&target).unwrap().file_type().is_fifo());
        assert!(!part_path(&target).exists());
    }

    #[tokio::test]
    async fn a_failed_stream_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let result = write_to_file(
            chunks(vec![Ok(b"a,b\n"), Err("boom")]),
            &target,
            PartMode::Fresh,
            &Progress::new(),
        )
        .await;
        assert!(matches!(result, Err(SinkError::Upstream("boom"))));
        assert!(!target.exists());
        assert!(!part_path(&target).exists());
    }

    #[tokio::test]
    async fn a_failed_stream_keeps_the_previous_complete_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        std::fs::write(&target, b"old complete export\n").unwrap();
        let result = write_to_file(
            chunks(vec![Ok(b"new"), Err("boom")]),
            &target,
            PartMode::Fresh,
            &Progress::new(),
        )
        .await;
        assert!(result.is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"old complete export\n");
    }

    #[tokio::test]
    async fn a_resumable_export_keeps_its_part_file_and_appends_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let result = write_to_file(
            chunks(vec![Ok(b"a,b\n1,2\n3,"), Err("boom")]),
            &target,
            PartMode::FreshKept,
            &Progress::new(),
        )
        .await;
        assert!(result.is_err());
        assert!(!target.exists());
        assert_eq!(std::fs::read(part_path(&target)).unwrap(), b"a,b\n1,2\n3,");
        // Keep the complete rows, append the rest.
        write_to_file(
            chunks(vec![Ok(b"3,4\n")]),
            &target,
            PartMode::Append { len: 8 },
            &Progress::new(),
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"a,b\n1,2\n3,4\n");
        assert!(!part_path(&target).exists());
    }

    #[tokio::test]
    async fn a_directory_or_missing_folder_is_a_write_error() {
        let dir = tempfile::tempdir().unwrap();
        let result = write_to_file(
            chunks(vec![]),
            dir.path(),
            PartMode::Fresh,
            &Progress::new(),
        )
        .await;
        assert!(matches!(result, Err(SinkError::Write { .. })));
        let missing = dir.path().join("no/such/folder/out.csv");
        let result =
            write_to_file(chunks(vec![]), &missing, PartMode::Fresh, &Progress::new()).await;
        let message = result.unwrap_err().to_string();
        assert!(message.contains("out.csv.part"), "{message}");
    }
}
