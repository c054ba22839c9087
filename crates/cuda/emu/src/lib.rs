//! Host emulation of fedrecon's CUDA kernels (test-only; a dev-dependency of `fedrecon-cuda`).
//!
//! `build.rs` compiles every `kernels/*.cu` as C++ against a small shim (`csrc/cuda_host_shim.h`)
//! that defines `__global__`, `threadIdx`, `atomicAdd`, … and runs a launch as a serial loop over
//! the grid. [`launch`] takes a kernel's name, its parameter types as the caller declares them,
//! the grid and block size and the arguments as the CUDA driver API does (one pointer to each
//! argument's value); the C++ side looks the kernel up in a table generated from the `.cu` files,
//! checks the declared parameter types against the kernel's own, and runs it. So no kernel
//! signature is written here: the declarations live in `fedrecon_cuda::launch`.
//! A serial schedule is valid for these kernels: they use no shared memory and no barriers, and
//! their only inter-thread interaction is `atomicAdd`, whose sum is order-independent up to
//! rounding.

use std::ffi::{CString, c_char, c_void};
use std::fmt;

/// An emulated launch that could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchError {
    /// The kernel's name.
    pub kernel: String,
    /// Why.
    pub message: String,
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "emulated launch of `{}`: {}", self.kernel, self.message)
    }
}

impl std::error::Error for LaunchError {}

unsafe extern "C" {
    fn fedrecon_emu_launch(
        name: *const c_char,
        signature: *const c_char,
        grid: u32,
        block: u32,
        args: *const *mut c_void,
        message: *mut c_char,
        message_len: usize,
    ) -> i32;
}

/// Run kernel `name` serially on the host with `grid` blocks of `block` threads. `params` are the
/// C parameter types the caller passes (`"int"`, `"const float*"`, …); a kernel that is not
/// compiled in, or whose parameters differ, is an error and does not run.
///
/// # Safety
/// `args[i]` must point to a value of type `params[i]` (for a pointer parameter: to the pointer),
/// and every index the kernel computes for this launch must lie inside the buffers passed.
pub unsafe fn launch(
    name: &str,
    params: &[&str],
    grid: u32,
    block: u32,
    args: &[*mut c_void],
) -> Result<(), LaunchError> {
    let err = |message: String| LaunchError {
        kernel: name.to_string(),
        message,
    };
    if args.len() != params.len() {
        return Err(err(format!(
            "{} arguments for {} parameters",
            args.len(),
            params.len()
        )));
    }
    let c_name = CString::new(name).map_err(|e| err(e.to_string()))?;
    let signature = CString::new(params.join(",")).map_err(|e| err(e.to_string()))?;
    let mut message = vec![0 as c_char; 512];
    // SAFETY: the strings are NUL-terminated; `args` holds one pointer per parameter, each to a
    // value of that parameter's type (the caller's contract), and the C++ side reads them only
    // after the signature matched; `message` has the length passed.
    let rc = unsafe {
        fedrecon_emu_launch(
            c_name.as_ptr(),
            signature.as_ptr(),
            grid,
            block,
            args.as_ptr(),
            message.as_mut_ptr(),
            message.len(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let text: Vec<u8> = message
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Err(err(String::from_utf8_lossy(&text).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kernels_and_wrong_signatures_are_errors() {
        // SAFETY: both launches are refused before any argument is read.
        let e = unsafe { launch("no_such_kernel", &[], 1, 1, &[]) }.unwrap_err();
        assert!(e.to_string().contains("no kernel of that name"), "{e}");
        let mut n = 0i32;
        let arg = [&mut n as *mut i32 as *mut c_void];
        // SAFETY: as above.
        let e = unsafe { launch("joseph_transpose", &["int"], 1, 1, &arg) }.unwrap_err();
        assert!(
            e.to_string()
                .contains("int,int,int,int,const float*,float*"),
            "{e}"
        );
    }
}
