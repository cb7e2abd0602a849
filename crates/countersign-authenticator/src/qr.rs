//! Reading a QR code from an image file (PNG), as a person adds an account from a screenshot.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("cannot read the image {0}: {1}")]
    Image(String, String),
    #[error("no QR code was found in {0}")]
    NotFound(String),
    #[error("the QR code in {0} could not be read")]
    Unreadable(String),
}

/// The text of the QR code in the image at `path`.
pub fn decode_file(path: &Path) -> Result<String, QrError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| QrError::Image(name.clone(), e.to_string()))?;
    decode_png(&bytes, &name)
}

pub fn decode_png(bytes: &[u8], name: &str) -> Result<String, QrError> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| QrError::Image(name.to_string(), e.to_string()))?
        .to_luma8();
    // Screenshots render modules at fractional pixel sizes with soft edges: enlarge and threshold
    // so the detector sees crisp modules.
    let (w, h) = img.dimensions();
    let scale = if w.max(h) < 800 { 4 } else { 1 };
    let big = image::imageops::resize(
        &img,
        w * scale,
        h * scale,
        image::imageops::FilterType::Nearest,
    );
    let crisp = image::ImageBuffer::from_fn(big.width(), big.height(), |x, y| {
        image::Luma([if big.get_pixel(x, y)[0] < 128 {
            0u8
        } else {
            255
        }])
    });
    let mut prepared = rqrr::PreparedImage::prepare(crisp);
    let grids = prepared.detect_grids();
    let grid = grids
        .first()
        .ok_or_else(|| QrError::NotFound(name.to_string()))?;
    grid.decode()
        .map(|(_, text)| text)
        .map_err(|_| QrError::Unreadable(name.to_string()))
}
