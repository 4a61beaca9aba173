//! Reading a file at a position, without moving a cursor that other readers share. The rows of a
//! run stay on disk (the journal, the validated rows waiting to be sent) and are read back one at
//! a time, sometimes by two readers of one file at once: by the workers taking the next row, and
//! by the outputs written when a run gives up on its rows in flight.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

/// `buf.len()` bytes of `file` from `offset` (fewer only at the end of the file).
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
}

/// Exactly `buf.len()` bytes of `file` from `offset`.
pub fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match read_at(file, buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A reader over a shared file with a position of its own.
#[derive(Debug, Clone)]
pub struct PositionalReader {
    file: Arc<File>,
    pos: u64,
}

impl PositionalReader {
    pub fn new(file: Arc<File>, pos: u64) -> PositionalReader {
        PositionalReader { file, pos }
    }
}

impl Read for PositionalReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn two_readers_of_one_file_keep_their_own_place() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        let file = Arc::new(file);
        let mut a = PositionalReader::new(Arc::clone(&file), 0);
        let mut b = PositionalReader::new(Arc::clone(&file), 6);
        let mut two = [0; 2];
        a.read_exact(&mut two).unwrap();
        b.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"67");
        a.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"23");
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"89");
        let mut three = [0; 3];
        read_exact_at(&file, &mut three, 4).unwrap();
        assert_eq!(&three, b"456");
        assert!(read_exact_at(&file, &mut three, 8).is_err());
    }
}
