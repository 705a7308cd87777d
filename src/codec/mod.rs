//! Sans-IO codecs for the metas: bytes in, frames or lines out. Nothing here touches a socket,
//! a pipe or a ring, so every rule is tested in memory.

pub mod chunk;

pub use chunk::{ChunkError, ChunkOptions, ChunkOptionsError, Chunker, DEFAULT_MAX_LINE, LineError, LineSplitter};
