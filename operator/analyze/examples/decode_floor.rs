//! The floor `make bench` measures analysis against: read a gzipped pprof profile, inflate it
//! and decode its protobuf with the crates godiag itself uses (flate2, prost), and nothing else:
//! no bounds, no analysis, no output. Any analysis costs at least this.
//!
//!     cargo run --release -p godiag-analyze --example decode_floor -- FILE.pb.gz

use godiag_analyze::pprof::proto::Profile;
use prost::Message;
use std::io::Read;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: decode_floor FILE.pb.gz")?;
    let data = std::fs::read(path)?;
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(&data[..]).read_to_end(&mut raw)?;
    let p = Profile::decode(&raw[..])?;
    // Keep the decode from being optimised away.
    std::hint::black_box(p.sample.len());
    Ok(())
}
