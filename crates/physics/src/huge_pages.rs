//! Work buffers backed by transparent huge pages (2 MiB) on Linux, for arrays of several MB that
//! a loop reads or writes in random order.
//!
//! With 4 KiB pages, 10⁶ random reads from an 8 MB array touch 2048 pages, as many as the
//! second-level TLB holds alongside everything else, so most of them walk the page tables on top
//! of the cache miss. NUFFT type 1 scatters its values into the sorted order of its points and
//! type 2 gathers its results back from it (`mri::nufft::spread`), both through a buffer of this
//! kind.
//!
//! Hand-written (one aligned allocation and one `madvise(MADV_HUGEPAGE)`, the hint the kernel
//! honours under its default `transparent_hugepage=madvise`) rather than a crate, because the
//! buffers are plain slices handed to the existing loops. Below one huge page, off Linux, or where
//! the kernel ignores the hint, the buffer is ordinary memory; nothing else changes.

use std::alloc::Layout;
use std::ptr::NonNull;

/// The size of a huge page on x86-64 and aarch64 Linux.
const HUGE_PAGE: usize = 2 << 20;

/// A fixed-length buffer of `T`, every element initialised to `T::default()`, aligned to whole
/// huge pages (with the `madvise` hint) when it spans at least one.
pub struct HugePageBuffer<T> {
    ptr: NonNull<T>,
    len: usize,
    /// The allocation (`None`: nothing allocated, for a zero-sized result).
    layout: Option<Layout>,
}

// SAFETY: the buffer owns its elements as a `Vec<T>` does; sending or sharing it is sending or
// sharing `T`s.
unsafe impl<T: Send> Send for HugePageBuffer<T> {}
// SAFETY: as above; `&HugePageBuffer` only hands out `&[T]`.
unsafe impl<T: Sync> Sync for HugePageBuffer<T> {}

impl<T: Copy + Default> HugePageBuffer<T> {
    /// `len` elements of `T::default()`. Aborts like `Vec` when the memory cannot be had; the
    /// callers size these buffers like arrays they already hold.
    pub fn new(len: usize) -> Self {
        let bytes = len
            .checked_mul(size_of::<T>())
            .expect("buffer size fits in usize, as for the caller's array of that length");
        if bytes == 0 {
            return Self {
                ptr: NonNull::dangling(),
                len,
                layout: None,
            };
        }
        let huge = bytes >= HUGE_PAGE;
        let layout = if huge {
            Layout::from_size_align(
                bytes.next_multiple_of(HUGE_PAGE),
                HUGE_PAGE.max(align_of::<T>()),
            )
        } else {
            Layout::array::<T>(len)
        }
        .expect("buffer layout fits in isize, as for the caller's array of that length");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            std::alloc::handle_alloc_error(layout)
        };
        #[cfg(target_os = "linux")]
        if huge {
            // SAFETY: `raw .. raw + layout.size()` is the allocation just made, starting on a
            // huge-page boundary; `madvise` only sets how the kernel backs those pages (the
            // result is ignored: it is a hint, and without it the pages are ordinary ones).
            unsafe {
                libc::madvise(raw.cast(), layout.size(), libc::MADV_HUGEPAGE);
            }
        }
        for i in 0..len {
            // SAFETY: `i < len` and the allocation holds `len` elements of `T`, aligned for `T`
            // (`layout.align() ≥ align_of::<T>()`); writing initialises the element.
            unsafe { ptr.as_ptr().add(i).write(T::default()) };
        }
        Self {
            ptr,
            len,
            layout: Some(layout),
        }
    }
}

impl<T> HugePageBuffer<T> {
    /// Whether the buffer was allocated on huge-page boundaries with the `madvise` hint (whether
    /// the kernel then used huge pages is its choice).
    pub fn is_huge_page_aligned(&self) -> bool {
        self.layout.is_some_and(|l| l.align() >= HUGE_PAGE)
    }
}

impl<T> std::ops::Deref for HugePageBuffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points to `len` initialised elements owned by `self` (or is dangling
        // with `len · size_of::<T>() == 0`, which a slice allows).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> std::ops::DerefMut for HugePageBuffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`; `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for HugePageBuffer<T> {
    fn drop(&mut self) {
        if let Some(layout) = self.layout {
            // SAFETY: allocated in `new` with this layout; the elements are `Copy`, so nothing
            // needs dropping first.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

impl<T> std::fmt::Debug for HugePageBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HugePageBuffer({} elements, huge-page aligned: {})",
            self.len,
            self.is_huge_page_aligned()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex32;

    #[test]
    fn buffers_start_at_default_and_keep_what_is_written() {
        for len in [0, 1, 1000, HUGE_PAGE / 8 + 3] {
            let mut b = HugePageBuffer::<Complex32>::new(len);
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|v| *v == Complex32::default()));
            for (i, v) in b.iter_mut().enumerate() {
                *v = Complex32::new(i as f32, -(i as f32));
            }
            assert!(
                b.iter()
                    .enumerate()
                    .all(|(i, v)| *v == Complex32::new(i as f32, -(i as f32)))
            );
            // at least one huge page of bytes: aligned to one, hinted; smaller: ordinary memory
            let huge = len * 8 >= HUGE_PAGE;
            assert_eq!(b.is_huge_page_aligned(), huge, "len {len}");
            if huge {
                assert_eq!(b.as_ptr() as usize % HUGE_PAGE, 0);
            }
        }
    }
}
