//! A pool of reusable work buffers, so that operators applied once per solver iteration do not
//! allocate (and page-fault fresh memory) on every application.
//!
//! Hand-written (a `Mutex<Vec<T>>`, a dozen lines) rather than a crate: buffers are taken for the
//! length of one task and given back, and a clone of an operator starts with an empty pool.

use std::sync::Mutex;

/// Buffers of type `T`, taken with [`ScratchPool::with`] and returned when the closure ends.
pub struct ScratchPool<T>(Mutex<Vec<T>>);

impl<T> ScratchPool<T> {
    /// An empty pool.
    pub fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// Run `f` on a buffer from the pool (or a new one from `make`), then give it back.
    pub fn with<R>(&self, make: impl FnOnce() -> T, f: impl FnOnce(&mut T) -> R) -> R {
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buf = taken.unwrap_or_else(make);
        let r = f(&mut buf);
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(buf);
        r
    }
}

impl<T> Default for ScratchPool<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for ScratchPool<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for ScratchPool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|v| v.len()).unwrap_or(0);
        write!(f, "ScratchPool({n} buffers)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_buffer_is_reused_and_clones_start_empty() {
        let pool: ScratchPool<Vec<u8>> = ScratchPool::new();
        pool.with(|| vec![0; 4], |b| b[0] = 7);
        // the second take gets the first buffer back, not a fresh one
        assert_eq!(pool.with(|| vec![0; 4], |b| b[0]), 7);
        assert_eq!(pool.clone().with(|| vec![0; 4], |b| b[0]), 0);
    }
}
