//! Helpers shared by the fuzz targets: reading structured values off the fuzzer's bytes, and
//! cutting a stream into the pieces an input asks for.
//!
//! Every target's input format is written at the top of its file and in `fuzz/README.md`; the
//! seeds in `corpus/<target>/` follow it (`cargo xtask fuzz --write-seeds` writes them).

/// Reads values off the front of the fuzzer's input. Past the end every read gives zeros (or
/// an empty slice), so any input decodes to something.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        head
    }

    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// Big-endian, zero-padded when the input ends.
    pub fn u16(&mut self) -> u16 {
        let mut b = [0u8; 2];
        for (d, s) in b.iter_mut().zip(self.take(2)) {
            *d = *s;
        }
        u16::from_be_bytes(b)
    }

    /// Big-endian, zero-padded when the input ends.
    pub fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        for (d, s) in b.iter_mut().zip(self.take(4)) {
            *d = *s;
        }
        u32::from_be_bytes(b)
    }

    /// Everything not read yet.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// Cuts `stream` into pieces of the given lengths, in order; whatever is left after them is
/// the last piece. Lengths beyond the end are clamped (empty pieces are kept: feeding nothing
/// must be harmless too).
pub fn pieces<'a>(stream: &'a [u8], lengths: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(lengths.len() + 1);
    let mut rest = stream;
    for &n in lengths {
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out.push(rest);
    out
}
