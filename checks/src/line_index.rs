//! Physical line numbers of a text from byte offsets, for the readers that report a
//! CSV row's line (the CRM reader and the evidence reader): one way to count them, so a
//! file saved with Windows line endings names the same lines as one saved with `\n`.

/// Physical line numbers from byte offsets.
///
/// `csv::Position::line` skips blank lines and counts `\r\n` oddly, and a record's
/// `Position::byte` can point into the line breaks before it; so lines are counted here, from
/// the first byte after those breaks. `\n`, `\r\n` and a lone `\r` each end a line, as in
/// the csv crate.
pub(crate) struct LineIndex<'a> {
    bytes: &'a [u8],
    /// Byte offset where each line starts; line 1 starts at 0.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        let mut starts = vec![0];
        for (index, byte) in bytes.iter().enumerate() {
            let ends_line = match byte {
                b'\n' => true,
                b'\r' => bytes.get(index + 1) != Some(&b'\n'),
                _ => false,
            };
            if ends_line {
                starts.push(index + 1);
            }
        }
        Self { bytes, starts }
    }

    /// The line of the first byte at or after `offset` that is not a line break.
    pub(crate) fn line_at(&self, offset: u64) -> u32 {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let start = self
            .bytes
            .get(offset..)
            .and_then(|rest| rest.iter().position(|b| !matches!(b, b'\r' | b'\n')))
            .map_or(self.bytes.len(), |skip| offset + skip);
        let line = self.starts.partition_point(|&s| s <= start);
        u32::try_from(line).unwrap_or(u32::MAX)
    }
}
