//! The CUDA C sources, embedded from the workspace's `kernels/` folder.
//!
//! Each kernel file `#include`s `fedrecon.cuh`; for NVRTC (which gets no include path)
//! [`KernelFile::nvrtc_source`] prepends the header and drops that line, keeping file names and
//! line numbers in NVRTC's messages through `#line` directives.

/// `kernels/fedrecon.cuh`: shared definitions and tuning constants.
pub const FEDRECON_CUH: &str = include_str!("../../../kernels/fedrecon.cuh");
/// `kernels/joseph.cu`: Joseph projector, transpose and ray set-up.
pub const JOSEPH_CU: &str = include_str!("../../../kernels/joseph.cu");
/// `kernels/sense.cu`: SENSE coil weighting.
pub const SENSE_CU: &str = include_str!("../../../kernels/sense.cu");
/// `kernels/nufft.cu`: NUFFT spreading and interpolation (ES kernel), deapodisation.
pub const NUFFT_CU: &str = include_str!("../../../kernels/nufft.cu");
/// `kernels/fft.cu`: batched mixed-radix Stockham FFT passes.
pub const FFT_CU: &str = include_str!("../../../kernels/fft.cu");
/// `kernels/fbp.cu`: FBP row filtering and the pixel-driven FBP back-projector.
pub const FBP_CU: &str = include_str!("../../../kernels/fbp.cu");

/// One compilation unit of `kernels/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelFile {
    /// `joseph.cu`.
    Joseph,
    /// `sense.cu`.
    Sense,
    /// `nufft.cu`.
    Nufft,
    /// `fft.cu`.
    Fft,
    /// `fbp.cu`.
    Fbp,
}

impl KernelFile {
    /// Every kernel file.
    pub const ALL: [KernelFile; 5] = [
        KernelFile::Joseph,
        KernelFile::Sense,
        KernelFile::Nufft,
        KernelFile::Fft,
        KernelFile::Fbp,
    ];

    /// File name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Joseph => "joseph.cu",
            Self::Sense => "sense.cu",
            Self::Nufft => "nufft.cu",
            Self::Fft => "fft.cu",
            Self::Fbp => "fbp.cu",
        }
    }

    /// The file's text as embedded.
    pub fn source(self) -> &'static str {
        match self {
            Self::Joseph => JOSEPH_CU,
            Self::Sense => SENSE_CU,
            Self::Nufft => NUFFT_CU,
            Self::Fft => FFT_CU,
            Self::Fbp => FBP_CU,
        }
    }

    /// The `extern "C"` entry points the file defines (from the declarations of
    /// [`crate::launch`]).
    pub fn entry_points(self) -> Vec<&'static str> {
        crate::launch::KERNELS
            .iter()
            .filter(|k| k.file == self)
            .map(|k| k.name)
            .collect()
    }

    /// Self-contained source for NVRTC: the header, then the file without its `#include`.
    pub fn nvrtc_source(self) -> String {
        let mut out = String::with_capacity(FEDRECON_CUH.len() + self.source().len() + 64);
        out.push_str("#line 1 \"fedrecon.cuh\"\n");
        out.push_str(FEDRECON_CUH);
        out.push_str(&format!("\n#line 1 \"{}\"\n", self.name()));
        for line in self.source().lines() {
            if line.trim() == "#include \"fedrecon.cuh\"" {
                out.push_str("// (fedrecon.cuh inlined above)\n");
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_point_is_defined_and_exported() {
        for k in KernelFile::ALL {
            let src = k.nvrtc_source();
            assert!(!src.contains("#include \"fedrecon.cuh\""), "{}", k.name());
            for e in k.entry_points() {
                assert!(
                    src.contains(&format!("extern \"C\" __global__ void {e}(")),
                    "{}: `{e}` missing",
                    k.name()
                );
            }
            // the tuning constants are defined exactly once, in the header
            assert_eq!(src.matches("#define FEDRECON_JOSEPH_BLOCK").count(), 1);
        }
    }

    /// The C parameter types of `name` as written in `src`, normalised (`const float*`, `int`, …).
    fn c_params(src: &str, name: &str) -> Vec<String> {
        let head = format!("extern \"C\" __global__ void {name}(");
        let start = src
            .find(&head)
            .unwrap_or_else(|| panic!("`{name}` not defined"))
            + head.len();
        let body = &src[start..start + src[start..].find(')').unwrap()];
        body.split(',')
            .map(|p| {
                let p = p.replace("__restrict__", "").replace('*', "* ");
                let mut words: Vec<&str> = p.split_whitespace().collect();
                words.pop(); // the parameter's name
                words.join(" ").replace(" *", "*")
            })
            .collect()
    }

    #[test]
    fn declarations_match_the_kernel_sources() {
        for k in crate::launch::KERNELS {
            assert_eq!(
                c_params(k.file.source(), k.name),
                k.params,
                "{}: the declaration in launch.rs differs from {}",
                k.name,
                k.file.name()
            );
        }
        // and every entry point of the sources is declared
        for f in KernelFile::ALL {
            let defined = f.source().matches("extern \"C\" __global__ void ").count();
            assert_eq!(defined, f.entry_points().len(), "{}", f.name());
        }
    }

    #[test]
    fn block_sizes_match_the_header() {
        let def = |name: &str| -> u32 {
            let line = FEDRECON_CUH
                .lines()
                .find(|l| l.starts_with(&format!("#define {name} ")))
                .unwrap_or_else(|| panic!("{name} not in fedrecon.cuh"));
            line.split_whitespace().nth(2).unwrap().parse().unwrap()
        };
        assert_eq!(def("FEDRECON_JOSEPH_BLOCK"), crate::JOSEPH_BLOCK);
        assert_eq!(def("FEDRECON_SENSE_BLOCK"), crate::SENSE_BLOCK);
        assert_eq!(def("FEDRECON_NUFFT_BLOCK"), crate::NUFFT_BLOCK);
        assert_eq!(def("FEDRECON_FFT_BLOCK"), crate::FFT_BLOCK);
        assert_eq!(
            def("FEDRECON_JOSEPH_TRANSPOSE_BLOCK"),
            crate::JOSEPH_TRANSPOSE_BLOCK
        );
        assert_eq!(def("FEDRECON_FFT_REG_RADIX") as usize, crate::FFT_REG_RADIX);
        assert_eq!(def("FEDRECON_FBP_BLOCK"), crate::FBP_BLOCK);
        assert_eq!(
            def("FEDRECON_NUFFT_MAX_WIDTH") as usize,
            fedrecon_physics::mri::nufft::MAX_KERNEL_WIDTH
        );
    }
}
