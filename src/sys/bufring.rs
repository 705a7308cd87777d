//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): the buffers multishot receives fill.
//!
//! One per worker ring, buffer group 0. The ring array (16 bytes per entry) and the buffers live
//! in one anonymous mapping we own; the kernel picks a buffer per completion and names it in the
//! CQE's flags, the worker copies the bytes out and gives the buffer back at once (so a buffer
//! is never held across a turn and the ring never runs dry for long).
//!
//! Worker thread only: the tail is advanced by this thread alone.

use io_uring::types::BufRingEntry;
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

/// The buffer group id multishot receives select from.
pub(crate) const GROUP: u16 = 0;

pub(crate) struct BufRing {
    base: *mut u8,
    map_len: usize,
    entries: u16,
    buf_size: usize,
    /// Our copy of the tail (the kernel reads the shared one).
    tail: u16,
}

impl BufRing {
    /// Maps `entries` (a power of two) buffers of `buf_size` bytes and the ring array in front
    /// of them, every buffer already provided.
    pub(crate) fn new(entries: u16, buf_size: usize) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || buf_size == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let ring_bytes = entries as usize * std::mem::size_of::<BufRingEntry>();
        let map_len = ring_bytes + entries as usize * buf_size;
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut ring = BufRing { base: base.cast(), map_len, entries, buf_size, tail: 0 };
        for id in 0..entries {
            ring.push(id);
        }
        ring.publish();
        Ok(ring)
    }

    /// The ring array's address, for `register_buf_ring` (page-aligned: the mapping's start).
    pub(crate) fn ring_addr(&self) -> u64 {
        self.base as u64
    }

    pub(crate) fn entries(&self) -> u16 {
        self.entries
    }

    pub(crate) fn buf_size(&self) -> usize {
        self.buf_size
    }

    fn buf_ptr(&self, id: u16) -> *mut u8 {
        let ring_bytes = self.entries as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: `id < entries`, so the offset stays inside the mapping.
        unsafe { self.base.add(ring_bytes + id as usize * self.buf_size) }
    }

    /// Writes buffer `id` into the next free slot (not yet visible to the kernel).
    fn push(&mut self, id: u16) {
        let mask = self.entries - 1;
        let slot = (self.tail & mask) as usize;
        // SAFETY: the ring array holds `entries` BufRingEntry values at `base`; slots between the
        // kernel's head and our tail are ours to write (the kernel has consumed them).
        let entry = unsafe { &mut *(self.base as *mut BufRingEntry).add(slot) };
        entry.set_addr(self.buf_ptr(id) as u64);
        entry.set_len(self.buf_size as u32);
        entry.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the pushed entries visible to the kernel (a release store of the shared tail).
    fn publish(&self) {
        // SAFETY: the tail field overlays the first entry's `resv` field (io_uring_buf_ring's
        // layout); `BufRingEntry::tail` computes its address from the ring base, which is
        // 16-aligned, so the u16 is aligned for an AtomicU16.
        let tail = unsafe { &*(BufRingEntry::tail(self.base as *const BufRingEntry) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }

    /// Copies the first `len` bytes of buffer `id` (named by a completion) to `out`, then gives
    /// the buffer back to the kernel.
    pub(crate) fn take(&mut self, id: u16, len: usize, out: &mut Vec<u8>) {
        if id >= self.entries {
            return;
        }
        let len = len.min(self.buf_size);
        // SAFETY: the kernel wrote `len` bytes into buffer `id` and handed it to us with this
        // completion; it will not touch it again until we provide it back below.
        let data = unsafe { std::slice::from_raw_parts(self.buf_ptr(id), len) };
        out.extend_from_slice(data);
        self.push(id);
        self.publish();
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours; the ring was unregistered (or the ring fd closed and all
        // its requests ended) before the driver drops this.
        unsafe { libc::munmap(self.base.cast(), self.map_len) };
    }
}
