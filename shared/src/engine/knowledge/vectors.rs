//! The stored form of a document's vectors: one compact little-endian file
//! per document in the blob store, read back by a warm function to fill its
//! in-memory [`super::KnowledgeIndex`].
//!
//! Layout (version 1):
//!
//! ```text
//! magic "SBVX" | version u8 = 1 | encoding u8 (1 = f32, 2 = i8) | reserved u16
//! dims u32 | count u32 | id_count u32 (0 or count)
//! model: len u16, UTF-8 (the embedder's name; empty when not recorded)
//! id_count × (len u16, UTF-8 chunk id)
//! count × vector: f32 → dims × f32;  i8 → scale f32, dims × i8 (value = i8 × scale)
//! ```
//!
//! i8 keeps a per-vector scale (max |x| / 127): a 384-dimension vector is
//! 388 bytes instead of 1,536, and cosine ranking is unchanged to about 1e-3.

/// File magic.
const MAGIC: &[u8; 4] = b"SBVX";
/// The version this code writes and reads.
pub const VECTOR_FORMAT_VERSION: u8 = 1;

/// How vector components are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorEncoding {
    /// 4-byte floats: exact.
    F32,
    /// One signed byte per component and a scale per vector: 4× smaller.
    I8,
}

impl VectorEncoding {
    fn code(self) -> u8 {
        match self {
            VectorEncoding::F32 => 1,
            VectorEncoding::I8 => 2,
        }
    }
}

/// Why a vector file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VectorFileError {
    /// Not a vector file.
    #[error("not a vector file (bad magic)")]
    BadMagic,
    /// Written by a newer version.
    #[error("unsupported vector file version {0}")]
    UnsupportedVersion(u8),
    /// Unknown component encoding.
    #[error("unknown vector encoding {0}")]
    UnknownEncoding(u8),
    /// Shorter than its header says.
    #[error("vector file is truncated")]
    Truncated,
    /// A chunk id is not UTF-8, or vectors differ in length.
    #[error("invalid vector file: {0}")]
    Invalid(&'static str),
}

/// The vectors of one document and, optionally, the chunk id of each.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VectorFile {
    /// The [`super::Embedder::name`] that made the vectors. Vectors of two
    /// embedders are not comparable even at equal dimensions: a reader whose
    /// embedder differs must re-embed rather than load them.
    pub model: String,
    /// Chunk ids, one per vector, or empty when the caller keeps the order.
    pub chunk_ids: Vec<String>,
    /// The vectors, all of one dimension.
    pub vectors: Vec<Vec<f32>>,
}

impl VectorFile {
    /// Serialises the file. Vectors must share one dimension and `chunk_ids`
    /// must be empty or one per vector ([`VectorFileError::Invalid`]).
    pub fn encode(&self, encoding: VectorEncoding) -> Result<Vec<u8>, VectorFileError> {
        let dims = self.vectors.first().map_or(0, Vec::len);
        if self.vectors.iter().any(|v| v.len() != dims) {
            return Err(VectorFileError::Invalid("vectors differ in dimension"));
        }
        if !self.chunk_ids.is_empty() && self.chunk_ids.len() != self.vectors.len() {
            return Err(VectorFileError::Invalid("one chunk id per vector"));
        }
        if self
            .chunk_ids
            .iter()
            .any(|id| id.len() > usize::from(u16::MAX))
        {
            return Err(VectorFileError::Invalid("chunk id too long"));
        }
        let count = u32::try_from(self.vectors.len())
            .map_err(|_| VectorFileError::Invalid("too many vectors"))?;
        let dims_u32 =
            u32::try_from(dims).map_err(|_| VectorFileError::Invalid("dimension too large"))?;
        let per_vector = match encoding {
            VectorEncoding::F32 => 4 * dims,
            VectorEncoding::I8 => 4 + dims,
        };
        let mut out = Vec::with_capacity(20 + self.vectors.len() * per_vector);
        out.extend_from_slice(MAGIC);
        out.push(VECTOR_FORMAT_VERSION);
        out.push(encoding.code());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&dims_u32.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        let id_count = if self.chunk_ids.is_empty() { 0 } else { count };
        out.extend_from_slice(&id_count.to_le_bytes());
        // Lengths checked above.
        out.extend_from_slice(&(self.model.len() as u16).to_le_bytes());
        out.extend_from_slice(self.model.as_bytes());
        for id in &self.chunk_ids {
            out.extend_from_slice(&(id.len() as u16).to_le_bytes());
            out.extend_from_slice(id.as_bytes());
        }
        for vector in &self.vectors {
            match encoding {
                VectorEncoding::F32 => {
                    for x in vector {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
                VectorEncoding::I8 => {
                    let (scale, values) = quantize(vector);
                    out.extend_from_slice(&scale.to_le_bytes());
                    out.extend(values.iter().map(|v| *v as u8));
                }
            }
        }
        Ok(out)
    }

    /// Reads a file written by [`VectorFile::encode`].
    pub fn decode(bytes: &[u8]) -> Result<VectorFile, VectorFileError> {
        let mut input = Input { bytes, at: 0 };
        if input.take(4)? != MAGIC {
            return Err(VectorFileError::BadMagic);
        }
        let version = input.u8()?;
        if version != VECTOR_FORMAT_VERSION {
            return Err(VectorFileError::UnsupportedVersion(version));
        }
        let encoding = match input.u8()? {
            1 => VectorEncoding::F32,
            2 => VectorEncoding::I8,
            other => return Err(VectorFileError::UnknownEncoding(other)),
        };
        input.take(2)?;
        let dims = input.u32()? as usize;
        let count = input.u32()? as usize;
        let id_count = input.u32()? as usize;
        if id_count != 0 && id_count != count {
            return Err(VectorFileError::Invalid("one chunk id per vector"));
        }
        let per_vector = match encoding {
            VectorEncoding::F32 => dims.checked_mul(4),
            VectorEncoding::I8 => dims.checked_add(4),
        }
        .ok_or(VectorFileError::Truncated)?;
        // Refuse sizes the input cannot hold before allocating for them.
        if count.saturating_mul(per_vector) > bytes.len()
            || id_count.saturating_mul(2) > bytes.len()
        {
            return Err(VectorFileError::Truncated);
        }
        let model_len = input.u16()? as usize;
        let model = std::str::from_utf8(input.take(model_len)?)
            .map_err(|_| VectorFileError::Invalid("model name is not UTF-8"))?
            .to_owned();
        let mut chunk_ids = Vec::with_capacity(id_count);
        for _ in 0..id_count {
            let len = input.u16()? as usize;
            let id = std::str::from_utf8(input.take(len)?)
                .map_err(|_| VectorFileError::Invalid("chunk id is not UTF-8"))?;
            chunk_ids.push(id.to_owned());
        }
        let mut vectors = Vec::with_capacity(count);
        for _ in 0..count {
            let raw = input.take(per_vector)?;
            let vector = match encoding {
                VectorEncoding::F32 => raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
                VectorEncoding::I8 => {
                    let scale = f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
                    raw[4..]
                        .iter()
                        .map(|b| f32::from(*b as i8) * scale)
                        .collect()
                }
            };
            vectors.push(vector);
        }
        Ok(VectorFile {
            model,
            chunk_ids,
            vectors,
        })
    }
}

/// The compact blob of a document's vectors (i8, no chunk ids: the order is
/// the chunks' order).
pub fn encode_vectors(vectors: &[Vec<f32>]) -> Result<Vec<u8>, VectorFileError> {
    VectorFile {
        model: String::new(),
        chunk_ids: Vec::new(),
        vectors: vectors.to_vec(),
    }
    .encode(VectorEncoding::I8)
}

/// Reads a blob written by [`encode_vectors`] or [`VectorFile::encode`].
pub fn decode_vectors(bytes: &[u8]) -> Result<Vec<Vec<f32>>, VectorFileError> {
    VectorFile::decode(bytes).map(|file| file.vectors)
}

/// Symmetric per-vector quantisation to i8: `x ≈ q × scale`.
pub(crate) fn quantize(vector: &[f32]) -> (f32, Vec<i8>) {
    let max = vector
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (0.0, vec![0; vector.len()]);
    }
    let scale = max / 127.0;
    let values = vector
        .iter()
        .map(|x| {
            let x = if x.is_finite() { *x } else { 0.0 };
            (x / scale).round().clamp(-127.0, 127.0) as i8
        })
        .collect();
    (scale, values)
}

/// Scales `vector` to unit length in place (a zero vector stays zero).
pub(crate) fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in vector.iter_mut() {
            *x /= norm;
        }
    }
}

struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], VectorFileError> {
        let end = self.at.checked_add(n).ok_or(VectorFileError::Truncated)?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or(VectorFileError::Truncated)?;
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, VectorFileError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, VectorFileError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, VectorFileError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Vec<f32>> {
        vec![vec![0.6, -0.8, 0.0], vec![0.1, 0.2, -0.3]]
    }

    #[test]
    fn f32_round_trips_exactly_with_ids() {
        let file = VectorFile {
            model: "local:all-MiniLM-L6-v2".into(),
            chunk_ids: vec!["c1".into(), "c2".into()],
            vectors: sample(),
        };
        let bytes = file.encode(VectorEncoding::F32).unwrap();
        assert_eq!(VectorFile::decode(&bytes).unwrap(), file);
    }

    #[test]
    fn i8_round_trips_closely_and_is_small() {
        let bytes = encode_vectors(&sample()).unwrap();
        assert_eq!(bytes.len(), 22 + 2 * (4 + 3));
        let back = decode_vectors(&bytes).unwrap();
        for (a, b) in sample().iter().zip(&back) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() < 0.01, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let bytes = encode_vectors(&sample()).unwrap();
        assert_eq!(decode_vectors(b"nope"), Err(VectorFileError::BadMagic));
        assert_eq!(
            decode_vectors(&bytes[..bytes.len() - 1]),
            Err(VectorFileError::Truncated)
        );
        let mut newer = bytes.clone();
        newer[4] = 9;
        assert_eq!(
            decode_vectors(&newer),
            Err(VectorFileError::UnsupportedVersion(9))
        );
        // A header claiming a huge count does not allocate for it.
        let mut huge = bytes.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_vectors(&huge), Err(VectorFileError::Truncated));
        for cut in 0..bytes.len() {
            assert!(decode_vectors(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn mixed_dimensions_are_refused() {
        let err = encode_vectors(&[vec![1.0], vec![1.0, 2.0]]).unwrap_err();
        assert_eq!(err, VectorFileError::Invalid("vectors differ in dimension"));
    }
}
