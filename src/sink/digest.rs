//! SHA-256 of what a sink delivered, in the hexadecimal form `sha256sum` prints: for an
//! HTTP body's trailers and a file's manifest alike.

use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// A SHA-256 being computed over bytes as they pass.
#[derive(Debug, Clone, Default)]
pub struct Sha256Hex(Sha256);

impl Sha256Hex {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest in lowercase hexadecimal.
    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

/// The SHA-256 of `bytes`, in lowercase hexadecimal.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `bytes` in lowercase hexadecimal, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The SHA-256 of the file at `path` and its length, read in bounded pieces.
pub fn of_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut digest = Sha256Hex::default();
    let mut buffer = vec![0; 1 << 20];
    let mut length = 0u64;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        digest.update(&buffer[..read]);
        length += read as u64;
    }
    Ok((digest.finish(), length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_read_as_sha256sum_prints_them() {
        let mut digest = Sha256Hex::default();
        digest.update(b"ab");
        digest.update(b"c");
        assert_eq!(
            digest.finish(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
