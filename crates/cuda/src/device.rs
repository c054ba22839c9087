//! The real back end (feature `cuda`): cudarc's driver API and NVRTC, both loaded at run time.

use crate::kernels::KernelFile;
use crate::pipeline::{
    Backend, FbpPipeline, NufftPipeline, NufftSensePipeline, SensePipeline, batch_of, deinterleave,
    interleave,
};
use crate::{
    CudaError, FBP_BLOCK, FFT_BLOCK, FftLaunch, JOSEPH_BLOCK, JOSEPH_TRANSPOSE_BLOCK,
    JosephGeometryTables, NUFFT_BLOCK, SENSE_BLOCK, blocks_for,
};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};
use fedrecon_physics::ct::fbp::FbpOptions;
use fedrecon_physics::error::check_len;
use fedrecon_physics::mri::NufftPlan;
use fedrecon_physics::mri::SamplingMask;
use fedrecon_physics::mri::nufft::{EsKernel, MAX_KERNEL_WIDTH, check_trajectory};
use fedrecon_physics::{CtGeometry, LinearOperator, PhysicsError};
use num_complex::Complex32;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Run a cudarc call that may panic (its dynamic loader panics on a missing library or symbol)
/// and turn both its error and a panic into [`CudaError::Driver`].
fn guarded<T, E: std::fmt::Display>(
    during: &str,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, CudaError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CudaError::Driver {
            during: during.into(),
            message: e.to_string(),
        }),
        Err(p) => Err(CudaError::Driver {
            during: during.into(),
            message: p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "cudarc panicked".into()),
        }),
    }
}

/// `FEDRECON_NVRTC_LIB`: a directory holding `libnvrtc.so.*`, or the library file itself.
///
/// NVRTC itself `dlopen`s `libnvrtc-builtins.so.<major>.<minor>` by bare name when it compiles,
/// so the builtins library found next to it is loaded first as well (by path; the loader then
/// resolves the bare-name request to it through its soname).
fn preload_nvrtc() -> Result<(), CudaError> {
    static PRELOADED: OnceLock<Result<Vec<libloading::Library>, String>> = OnceLock::new();
    let r = PRELOADED.get_or_init(|| {
        let Some(given) = std::env::var_os("FEDRECON_NVRTC_LIB") else {
            return Ok(Vec::new());
        };
        let given = PathBuf::from(given);
        let (dir, lib) = if given.is_dir() {
            (given.clone(), given.join("libnvrtc.so.13"))
        } else {
            let dir = given.parent().map(PathBuf::from).unwrap_or_default();
            (dir, given.clone())
        };
        let names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("FEDRECON_NVRTC_LIB={}: {e}", given.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let name_of = |p: &PathBuf| {
            p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string()
        };
        let lib = if lib.is_file() {
            lib
        } else {
            names
                .iter()
                .find(|p| name_of(p).starts_with("libnvrtc.so"))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "FEDRECON_NVRTC_LIB={}: no libnvrtc.so* there",
                        given.display()
                    )
                })?
        };
        let mut order: Vec<PathBuf> = names
            .into_iter()
            .filter(|p| name_of(p).starts_with("libnvrtc-builtins.so"))
            .collect();
        order.sort();
        order.push(lib);
        order
            .into_iter()
            .map(|path| {
                // SAFETY: loading NVIDIA's NVRTC libraries runs only their own initialisers; they
                // are the libraries cudarc and NVRTC would load anyway. They stay loaded for the
                // life of the process (kept in this static), so the symbols resolved from them
                // remain valid.
                unsafe { libloading::Library::new(&path) }
                    .map_err(|e| format!("FEDRECON_NVRTC_LIB: cannot load {}: {e}", path.display()))
            })
            .collect()
    });
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(CudaError::LibraryNotFound {
            lib: "libnvrtc",
            hint: e.clone(),
        }),
    }
}

fn ensure_nvrtc() -> Result<(), CudaError> {
    preload_nvrtc()?;
    // SAFETY: only tries to dlopen the candidate library names (and closes them again).
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(CudaError::LibraryNotFound {
            lib: "libnvrtc",
            hint: "install the CUDA runtime compiler (e.g. `.ci/install-nvrtc`, or NVIDIA's \
                   `cuda-nvrtc` package) and set FEDRECON_NVRTC_LIB to its lib directory or add \
                   that directory to LD_LIBRARY_PATH"
                .into(),
        })
    }
}

fn ensure_driver() -> Result<(), CudaError> {
    // SAFETY: only tries to dlopen the candidate library names (and closes them again).
    if unsafe { cudarc::driver::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(CudaError::LibraryNotFound {
            lib: "libcuda",
            hint: "no NVIDIA driver library (libcuda.so) on the loader's path: is an NVIDIA GPU \
                   and its driver installed?"
                .into(),
        })
    }
}

/// Whether NVRTC can be loaded (honouring `FEDRECON_NVRTC_LIB`).
pub fn nvrtc_available() -> bool {
    ensure_nvrtc().is_ok()
}

/// The virtual architectures this NVRTC can target, as `10·major + minor` (e.g. 80, 90), ascending.
pub fn nvrtc_supported_archs() -> Result<Vec<i32>, CudaError> {
    ensure_nvrtc()?;
    guarded("asking NVRTC for its architectures", || {
        let mut n: std::ffi::c_int = 0;
        // SAFETY: NVRTC writes one int through the valid pointer.
        unsafe { cudarc::nvrtc::sys::nvrtcGetNumSupportedArchs(&mut n) }.result()?;
        let mut v: Vec<std::ffi::c_int> = vec![0; n.max(0) as usize];
        // SAFETY: `v` has room for the `n` ints NVRTC reported it will write.
        unsafe { cudarc::nvrtc::sys::nvrtcGetSupportedArchs(v.as_mut_ptr()) }.result()?;
        v.sort_unstable();
        Ok::<_, cudarc::nvrtc::result::NvrtcError>(v)
    })
}

/// The NVRTC target for a device of compute capability `major.minor`: the newest virtual
/// architecture NVRTC supports that is not newer than the device (the driver JIT-compiles that
/// PTX for the device), or an error when the device is older than everything NVRTC supports.
pub fn nvrtc_arch_for(major: i32, minor: i32) -> Result<String, CudaError> {
    let cc = 10 * major + minor;
    let archs = nvrtc_supported_archs()?;
    match archs.iter().copied().filter(|&a| a <= cc).max() {
        Some(a) => Ok(format!("compute_{a}")),
        None => Err(CudaError::Compile {
            kernel: "(all)",
            arch: format!("compute_{cc}"),
            log: format!(
                "compute capability {major}.{minor} is older than every architecture this NVRTC \
                 supports ({archs:?})"
            ),
        }),
    }
}

fn compile(kernel: KernelFile, arch: &str) -> Result<Ptx, CudaError> {
    ensure_nvrtc()?;
    let opts = CompileOptions {
        // every operation one IEEE rounding, as on the CPU
        fmad: Some(false),
        ftz: Some(false),
        prec_div: Some(true),
        prec_sqrt: Some(true),
        use_fast_math: Some(false),
        options: vec![format!("--gpu-architecture={arch}"), "--std=c++17".into()],
        name: Some(kernel.name().into()),
        ..Default::default()
    };
    let src = kernel.nvrtc_source();
    match catch_unwind(AssertUnwindSafe(|| {
        cudarc::nvrtc::compile_ptx_with_opts(src, opts)
    })) {
        Ok(Ok(ptx)) => Ok(ptx),
        Ok(Err(CompileError::CompileError { log, .. })) => Err(CudaError::Compile {
            kernel: kernel.name(),
            arch: arch.into(),
            log: log.to_string_lossy().into_owned(),
        }),
        Ok(Err(e)) => Err(CudaError::Compile {
            kernel: kernel.name(),
            arch: arch.into(),
            log: format!("{e:?}"),
        }),
        Err(_) => Err(CudaError::Compile {
            kernel: kernel.name(),
            arch: arch.into(),
            log: "NVRTC panicked (library or symbol missing?)".into(),
        }),
    }
}

/// Compile one kernel file to PTX text for `arch` (`"compute_80"`, `"sm_90"`, …) with the flags the
/// device path uses (`--fmad=false`, exact division and square root, no flush to zero).
pub fn compile_ptx(kernel: KernelFile, arch: &str) -> Result<String, CudaError> {
    Ok(compile(kernel, arch)?.to_src())
}

struct Inner {
    ordinal: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    arch: String,
    modules: Mutex<HashMap<KernelFile, Arc<CudaModule>>>,
}

/// One GPU: its context, default stream and the lazily compiled kernel modules (each kernel file
/// is compiled by NVRTC on first use and cached for the life of the device). Cheap to clone.
#[derive(Clone)]
pub struct CudaDevice {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDevice")
            .field("ordinal", &self.inner.ordinal)
            .field("arch", &self.inner.arch)
            .finish()
    }
}

impl CudaDevice {
    /// Open device `ordinal`. Errors (never panics) when the driver or NVRTC library is
    /// missing, or there is no such device.
    pub fn new(ordinal: usize) -> Result<Self, CudaError> {
        ensure_driver()?;
        ensure_nvrtc()?;
        let ctx = guarded(&format!("opening device {ordinal}"), || {
            CudaContext::new(ordinal)
        })?;
        let (major, minor) = guarded("querying the compute capability", || {
            ctx.compute_capability()
        })?;
        let stream = ctx.default_stream();
        Ok(Self {
            inner: Arc::new(Inner {
                ordinal,
                ctx,
                stream,
                arch: nvrtc_arch_for(major, minor)?,
                modules: Mutex::new(HashMap::new()),
            }),
        })
    }
    /// Device ordinal.
    pub fn ordinal(&self) -> usize {
        self.inner.ordinal
    }
    /// The NVRTC target (`compute_XY`; see [`nvrtc_arch_for`]).
    pub fn arch(&self) -> &str {
        &self.inner.arch
    }
    /// The cudarc context.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.inner.ctx
    }
    /// The stream every launch of this crate goes to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.inner.stream
    }
    /// Entry point `name` of `kernel`, compiling and loading the file on first use.
    pub fn function(&self, kernel: KernelFile, name: &str) -> Result<CudaFunction, CudaError> {
        let module = {
            let mut cache = self
                .inner
                .modules
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match cache.get(&kernel) {
                Some(m) => m.clone(),
                None => {
                    let ptx = compile(kernel, &self.inner.arch)?;
                    let m = guarded(&format!("loading {}", kernel.name()), || {
                        self.inner.ctx.load_module(ptx)
                    })?;
                    cache.insert(kernel, m.clone());
                    m
                }
            }
        };
        guarded(&format!("looking up `{name}`"), || {
            module.load_function(name)
        })
    }
    fn upload<T: cudarc::driver::DeviceRepr>(
        &self,
        what: &str,
        data: &[T],
    ) -> Result<CudaSlice<T>, CudaError> {
        guarded(&format!("copying {what} to the device"), || {
            self.inner.stream.clone_htod(data)
        })
    }
    fn download<T: cudarc::driver::DeviceRepr>(
        &self,
        what: &str,
        src: &CudaSlice<T>,
        dst: &mut [T],
    ) -> Result<(), CudaError> {
        guarded(&format!("copying {what} to the host"), || {
            self.inner.stream.memcpy_dtoh(src, dst)?;
            // the copy is asynchronous on the stream: wait before the caller reads `dst`
            self.inner.stream.synchronize()
        })
    }
    fn zeros<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
        &self,
        what: &str,
        n: usize,
    ) -> Result<CudaSlice<T>, CudaError> {
        guarded(&format!("allocating {what}"), || {
            self.inner.stream.alloc_zeros::<T>(n)
        })
    }
}

/// Launch entry point `$name` of `$kernel` on `$dev`'s stream with `$grid` blocks of `$block`
/// threads and the given arguments; a grid of zero blocks launches nothing. Every use site states,
/// in a `SAFETY:` comment, why its argument list matches the kernel's parameters and why every
/// index the kernel computes lies inside the buffers passed.
macro_rules! launch {
    ($dev:expr, $kernel:expr, $name:literal, $grid:expr, $block:expr, [$($arg:expr),* $(,)?]) => {{
        if $grid == 0 {
            Ok(())
        } else {
            let func = $dev.function($kernel, $name)?;
            let stream = $dev.stream();
            let mut l = stream.launch_builder(&func);
            $( l.arg($arg); )*
            // SAFETY: the use site documents that the arguments match the kernel's signature and
            // that the buffers cover every index the kernel computes for this grid.
            guarded(concat!("launching `", $name, "`"), || unsafe {
                l.launch(config($grid, $block))
            })
            .map(|_| ())
        }
    }};
}

fn config(blocks: u32, block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn batch_i32(b: usize) -> Result<i32, CudaError> {
    i32::try_from(b).map_err(|_| CudaError::TooLarge {
        field: "batch",
        value: b,
        reason: "must fit in a 32-bit signed integer",
    })
}

/// Joseph projector on the GPU: the same operator as `fedrecon_physics::ct::JosephProjector`
/// (domain `(ny, nx)` image, range `(n_angles, n_det)` sinogram, `f32`), with its exact transpose.
///
/// The rays are prepared once, on the device, at construction. The [`LinearOperator`] methods copy
/// host buffers to the device and back; [`Self::forward_device`] and [`Self::adjoint_device`] work
/// on device-resident batches. Because the trait's `apply_*` methods have no error channel, they
/// panic (with the driver's message) if the device fails after construction (e.g. out of memory);
/// [`Self::try_forward`] and [`Self::try_adjoint`] return that as an error instead.
pub struct JosephProjectorCuda {
    dev: CudaDevice,
    geom: CtGeometry,
    dom: [usize; 2],
    ran: [usize; 2],
    ray_f: CudaSlice<f32>,
    ray_i: CudaSlice<i32>,
}

impl std::fmt::Debug for JosephProjectorCuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JosephProjectorCuda")
            .field("device", &self.dev)
            .field("domain", &self.dom)
            .field("range", &self.ran)
            .finish()
    }
}

impl JosephProjectorCuda {
    /// Compile (once per device) the kernels and prepare the rays of `geom` on `dev`.
    pub fn new(dev: &CudaDevice, geom: impl Into<CtGeometry>) -> Result<Self, CudaError> {
        let geom = geom.into();
        let t = JosephGeometryTables::new(&geom)?;
        let prep = dev.function(KernelFile::Joseph, "joseph_prepare_rays")?;
        let trig = dev.upload("angle table", &t.trig)?;
        let det = dev.upload("detector table", &t.det)?;
        let mut ray_f = dev.zeros::<f32>("ray table", 3 * t.n_rays())?;
        let mut ray_i = dev.zeros::<i32>("ray table", 3 * t.n_rays())?;
        let [h, sod, sdd] = t.lengths();
        let stream = dev.stream();
        let mut launch = stream.launch_builder(&prep);
        launch
            .arg(&t.kind)
            .arg(&t.ny)
            .arg(&t.nx)
            .arg(&t.n_angles)
            .arg(&t.n_det)
            .arg(&h)
            .arg(&sod)
            .arg(&sdd)
            .arg(&trig)
            .arg(&det)
            .arg(&mut ray_f)
            .arg(&mut ray_i);
        // SAFETY: the argument list matches `joseph_prepare_rays`' signature (int ×5, double ×3,
        // const double* ×2, float*, int*); `trig`/`det` hold 2·n_angles / 2·n_det values and the
        // ray tables 3·n_rays, and the grid covers n_rays threads, each of which writes only its
        // own record.
        guarded("launching joseph_prepare_rays", || unsafe {
            launch.launch(config(t.grid(), JOSEPH_BLOCK))
        })?;
        Ok(Self {
            dev: dev.clone(),
            dom: geom.image_shape(),
            ran: geom.sino_shape(),
            geom,
            ray_f,
            ray_i,
        })
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        &self.geom
    }
    /// The device.
    pub fn device(&self) -> &CudaDevice {
        &self.dev
    }
    fn n_rays(&self) -> usize {
        self.ran[0] * self.ran[1]
    }
    fn dims(&self, batch: usize) -> Result<(i32, i32, i64, i32, u32), CudaError> {
        Ok((
            self.dom[0] as i32,
            self.dom[1] as i32,
            self.n_rays() as i64,
            batch_i32(batch)?,
            blocks_for("angles × detectors", self.n_rays(), JOSEPH_BLOCK)?,
        ))
    }
    /// `dst = srcᵀ` (or `+=`) for `batch` arrays `(rows, cols)`.
    fn transpose(
        &self,
        [rows, cols]: [usize; 2],
        batch: usize,
        accumulate: bool,
        src: &CudaSlice<f32>,
        dst: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        let (r, c, b, acc) = (
            rows as i32,
            cols as i32,
            batch_i32(batch)?,
            accumulate as i32,
        );
        let grid = blocks_for(
            "batch × ny × nx",
            batch * rows * cols,
            JOSEPH_TRANSPOSE_BLOCK,
        )?;
        // SAFETY (launch contract): matches `joseph_transpose` (int ×4, const float*, float*);
        // both buffers hold batch·rows·cols values (checked by the callers).
        launch!(
            self.dev,
            KernelFile::Joseph,
            "joseph_transpose",
            grid,
            JOSEPH_TRANSPOSE_BLOCK,
            [&r, &c, &b, &acc, src, dst]
        )
    }
    /// `y = P x` for a batch of device-resident images `(batch, ny, nx)` into `(batch, n_angles,
    /// n_det)`; returns the batch size. The x-major rays read a transposed copy of the images
    /// (coalesced reads; see `kernels/joseph.cu`), made here in device scratch memory.
    pub fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of("x (batched image)", &self.dom, x.len())?;
        check_len(
            "y (batched sinogram)",
            &[b, self.ran[0], self.ran[1]],
            y.len(),
        )?;
        let mut xt = self.dev.zeros::<f32>("the transposed image", x.len())?;
        self.transpose(self.dom, b, false, x, &mut xt)?;
        let (ny, nx, n_rays, bi, grid) = self.dims(b)?;
        // SAFETY (launch contract): matches `joseph_forward` (int, int, long long, int,
        // const float*, const int*, const float* ×2, float*); `x`/`xt` hold `batch` images
        // (ny, nx)/(nx, ny) and `y` `batch` sinograms (checked above), the ray table was built for
        // this geometry so its step ranges lie inside the image, and the grid covers every ray.
        launch!(
            self.dev,
            KernelFile::Joseph,
            "joseph_forward",
            grid,
            JOSEPH_BLOCK,
            [&ny, &nx, &n_rays, &bi, &self.ray_f, &self.ray_i, x, &xt, y]
        )?;
        Ok(b)
    }
    /// `x = Pᵀ y` for a batch of device-resident sinograms; returns the batch size. The x-major
    /// rays scatter into a transposed accumulator that is then added into `x`.
    pub fn adjoint_device(
        &self,
        y: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of("y (batched sinogram)", &self.ran, y.len())?;
        check_len("x (batched image)", &[b, self.dom[0], self.dom[1]], x.len())?;
        guarded("zeroing the image", || self.dev.stream().memset_zeros(x))?;
        let mut xt = self
            .dev
            .zeros::<f32>("the transposed accumulator", x.len())?;
        let (ny, nx, n_rays, bi, grid) = self.dims(b)?;
        // SAFETY (launch contract): matches `joseph_backward` (int, int, long long, int,
        // const float*, const int*, const float*, float* ×2); buffers as in `forward_device`,
        // every atomic add lands inside `x` or `xt`.
        launch!(
            self.dev,
            KernelFile::Joseph,
            "joseph_backward",
            grid,
            JOSEPH_BLOCK,
            [
                &ny,
                &nx,
                &n_rays,
                &bi,
                &self.ray_f,
                &self.ray_i,
                y,
                &mut *x,
                &mut xt
            ]
        )?;
        self.transpose([self.dom[1], self.dom[0]], b, true, &xt, x)?;
        Ok(b)
    }
    /// Host-buffer forward projection of a batch (`x.len()` a multiple of `ny·nx`).
    pub fn try_forward(&self, x: &[f32], y: &mut [f32]) -> Result<usize, CudaError> {
        let b = batch_of("x (batched image)", &self.dom, x.len())?;
        check_len(
            "y (batched sinogram)",
            &[b, self.ran[0], self.ran[1]],
            y.len(),
        )?;
        let dx = self.dev.upload("the image", x)?;
        let mut dy = self.dev.zeros::<f32>("the sinogram", y.len())?;
        self.forward_device(&dx, &mut dy)?;
        self.dev.download("the sinogram", &dy, y)?;
        Ok(b)
    }
    /// Host-buffer back-projection of a batch (`y.len()` a multiple of `n_angles·n_det`).
    pub fn try_adjoint(&self, y: &[f32], x: &mut [f32]) -> Result<usize, CudaError> {
        let b = batch_of("y (batched sinogram)", &self.ran, y.len())?;
        check_len("x (batched image)", &[b, self.dom[0], self.dom[1]], x.len())?;
        let dy = self.dev.upload("the sinogram", y)?;
        let mut dx = self.dev.zeros::<f32>("the image", x.len())?;
        self.adjoint_device(&dy, &mut dx)?;
        self.dev.download("the image", &dx, x)?;
        Ok(b)
    }
}

impl LinearOperator<f32> for JosephProjectorCuda {
    fn domain_shape(&self) -> &[usize] {
        &self.dom
    }
    fn range_shape(&self) -> &[usize] {
        &self.ran
    }
    fn apply_forward(&self, x: &[f32], y: &mut [f32]) {
        if let Err(e) = self.try_forward(x, y) {
            panic!("JosephProjectorCuda forward failed on the device: {e}");
        }
    }
    fn apply_adjoint(&self, y: &[f32], x: &mut [f32]) {
        if let Err(e) = self.try_adjoint(y, x) {
            panic!("JosephProjectorCuda adjoint failed on the device: {e}");
        }
    }
    fn forward_batch(&self, x: &[f32], y: &mut [f32]) -> fedrecon_physics::Result<usize> {
        // one batched launch instead of one per image; shape errors are reported as errors
        let b = match batch_of("x (batched domain)", &self.dom, x.len()) {
            Ok(b) => b,
            Err(CudaError::Physics(e)) => return Err(e),
            Err(e) => panic!("{e}"),
        };
        check_len("y (batched range)", &[b, self.ran[0], self.ran[1]], y.len())?;
        self.apply_forward(x, y);
        Ok(b)
    }
    fn adjoint_batch(&self, y: &[f32], x: &mut [f32]) -> fedrecon_physics::Result<usize> {
        let b = match batch_of("y (batched range)", &self.ran, y.len()) {
            Ok(b) => b,
            Err(CudaError::Physics(e)) => return Err(e),
            Err(e) => panic!("{e}"),
        };
        check_len(
            "x (batched domain)",
            &[b, self.dom[0], self.dom[1]],
            x.len(),
        )?;
        self.apply_adjoint(y, x);
        Ok(b)
    }
}

/// Coil sensitivities resident on the GPU, for the SENSE weighting kernels:
/// `expand: x (ny, nx) ↦ S_c ⊙ x (coils, ny, nx)` and `reduce: t ↦ Σ_c conj(S_c) ⊙ t_c`, each
/// batched over a leading axis. (The centred FFT between them is not part of these kernels.)
pub struct SenseMapsCuda {
    dev: CudaDevice,
    maps: CudaSlice<f32>,
    coils: usize,
    ny: usize,
    nx: usize,
    expand: CudaFunction,
    reduce: CudaFunction,
}

impl std::fmt::Debug for SenseMapsCuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenseMapsCuda")
            .field("device", &self.dev)
            .field("coils", &self.coils)
            .field("ny", &self.ny)
            .field("nx", &self.nx)
            .finish()
    }
}

impl SenseMapsCuda {
    /// Upload `maps (coils, ny, nx)`.
    pub fn new(
        dev: &CudaDevice,
        maps: &[Complex32],
        coils: usize,
        ny: usize,
        nx: usize,
    ) -> Result<Self, CudaError> {
        if coils == 0 {
            return Err(PhysicsError::InvalidArgument {
                name: "coils",
                value: coils.to_string(),
                reason: "need at least one coil".into(),
            }
            .into());
        }
        check_len("maps (coils, ny, nx)", &[coils, ny, nx], maps.len())?;
        i32::try_from(coils).map_err(|_| CudaError::TooLarge {
            field: "coils",
            value: coils,
            reason: "must fit in a 32-bit signed integer",
        })?;
        Ok(Self {
            dev: dev.clone(),
            maps: dev.upload("the coil maps", &interleave(maps))?,
            coils,
            ny,
            nx,
            expand: dev.function(KernelFile::Sense, "sense_expand")?,
            reduce: dev.function(KernelFile::Sense, "sense_reduce")?,
        })
    }
    fn launch(
        &self,
        func: &CudaFunction,
        src: &CudaSlice<f32>,
        dst: &mut CudaSlice<f32>,
        batch: usize,
    ) -> Result<(), CudaError> {
        let n_pix = (self.ny * self.nx) as i64;
        let coils = self.coils as i32;
        let b = batch_i32(batch)?;
        let blocks = blocks_for("batch × ny × nx", batch * self.ny * self.nx, SENSE_BLOCK)?;
        let stream = self.dev.stream();
        let mut l = stream.launch_builder(func);
        l.arg(&n_pix)
            .arg(&coils)
            .arg(&b)
            .arg(&self.maps)
            .arg(src)
            .arg(dst);
        // SAFETY: matches `sense_expand`/`sense_reduce` (long long, int, int, const float* ×3,
        // float*); the callers checked the interleaved lengths 2·batch·n_pix and
        // 2·batch·coils·n_pix, and the grid covers batch·n_pix threads.
        guarded("launching a SENSE kernel", || unsafe {
            l.launch(config(blocks, SENSE_BLOCK))
        })?;
        Ok(())
    }
    /// Device-resident `out (batch, coils, ny, nx) = S ⊙ x (batch, ny, nx)`, interleaved
    /// complex `f32`; returns the batch size.
    pub fn expand_device(
        &self,
        x: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of(
            "x (batched interleaved image)",
            &[self.ny, self.nx, 2],
            x.len(),
        )?;
        check_len(
            "out (batched interleaved coil images)",
            &[b, self.coils, self.ny, self.nx, 2],
            out.len(),
        )?;
        self.launch(&self.expand, x, out, b)?;
        Ok(b)
    }
    /// Device-resident `x (batch, ny, nx) = Σ_c conj(S_c) ⊙ t_c`; returns the batch size.
    pub fn reduce_device(
        &self,
        t: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of(
            "t (batched interleaved coil images)",
            &[self.coils, self.ny, self.nx, 2],
            t.len(),
        )?;
        check_len(
            "x (batched interleaved image)",
            &[b, self.ny, self.nx, 2],
            x.len(),
        )?;
        self.launch(&self.reduce, t, x, b)?;
        Ok(b)
    }
    /// Host-buffer `S ⊙ x` for a batch of images.
    pub fn expand(&self, x: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        let b = batch_of("x (batched image)", &[self.ny, self.nx], x.len())?;
        let dx = self.dev.upload("the image", &interleave(x))?;
        let mut dout = self
            .dev
            .zeros::<f32>("coil images", 2 * b * self.coils * self.ny * self.nx)?;
        self.expand_device(&dx, &mut dout)?;
        let mut out = vec![0.0f32; dout.len()];
        self.dev.download("coil images", &dout, &mut out)?;
        Ok(deinterleave(&out))
    }
    /// Host-buffer `Σ_c conj(S_c) ⊙ t_c` for a batch of coil-image stacks.
    pub fn reduce(&self, t: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        let b = batch_of(
            "t (batched coil images)",
            &[self.coils, self.ny, self.nx],
            t.len(),
        )?;
        let dt = self.dev.upload("coil images", &interleave(t))?;
        let mut dx = self
            .dev
            .zeros::<f32>("the image", 2 * b * self.ny * self.nx)?;
        self.reduce_device(&dt, &mut dx)?;
        let mut x = vec![0.0f32; dx.len()];
        self.dev.download("the image", &dx, &mut x)?;
        Ok(deinterleave(&x))
    }
}

/// NUFFT gridding on the GPU with FINUFFT's exponential-of-semicircle kernel ψ: spreading of
/// point values onto the periodic fine grid `(nfy, nfx)` and its transpose, interpolation (the
/// `ψ`-convolution steps of `fedrecon_physics::mri::NufftPlan`, without FFT or deapodisation).
/// Values are interleaved complex `f32`, batched over a leading axis.
pub struct NufftGriddingCuda {
    dev: CudaDevice,
    traj: CudaSlice<f32>,
    m: usize,
    nf: [usize; 2],
    kernel: EsKernel,
    spread: CudaFunction,
    interp: CudaFunction,
}

impl std::fmt::Debug for NufftGriddingCuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NufftGriddingCuda")
            .field("device", &self.dev)
            .field("points", &self.m)
            .field("fine_shape", &self.nf)
            .field("kernel", &self.kernel)
            .finish()
    }
}

impl NufftGriddingCuda {
    /// The gridding of `plan` (its trajectory, fine grid and kernel) on `dev`.
    pub fn from_plan(dev: &CudaDevice, plan: &NufftPlan) -> Result<Self, CudaError> {
        Self::new(dev, plan.trajectory(), plan.fine_shape(), plan.kernel())
    }
    /// Gridding of the `(M, 2)` trajectory `traj` (`(kx, ky)` in cycles/pixel, in `[−0.5, 0.5]`)
    /// onto a fine grid `(nfy, nfx)` with `kernel`.
    pub fn new(
        dev: &CudaDevice,
        traj: &[f32],
        (nfy, nfx): (usize, usize),
        kernel: EsKernel,
    ) -> Result<Self, CudaError> {
        let m = check_trajectory(traj)?;
        if !(2..=MAX_KERNEL_WIDTH).contains(&kernel.width) {
            return Err(PhysicsError::InvalidArgument {
                name: "kernel.width",
                value: kernel.width.to_string(),
                reason: format!("must be in 2..={MAX_KERNEL_WIDTH}"),
            }
            .into());
        }
        for (field, n) in [("nfy", nfy), ("nfx", nfx)] {
            if n < kernel.width {
                return Err(PhysicsError::InvalidArgument {
                    name: field,
                    value: n.to_string(),
                    reason: format!(
                        "fine grid must be at least the kernel width {}",
                        kernel.width
                    ),
                }
                .into());
            }
            i32::try_from(n).map_err(|_| CudaError::TooLarge {
                field,
                value: n,
                reason: "must fit in a 32-bit signed integer",
            })?;
        }
        blocks_for("points", m, NUFFT_BLOCK)?;
        Ok(Self {
            dev: dev.clone(),
            traj: dev.upload("the trajectory", traj)?,
            m,
            nf: [nfy, nfx],
            kernel,
            spread: dev.function(KernelFile::Nufft, "nufft_spread")?,
            interp: dev.function(KernelFile::Nufft, "nufft_interp")?,
        })
    }
    /// Number of points `M`.
    pub fn n_points(&self) -> usize {
        self.m
    }
    /// Fine grid `(nfy, nfx)`.
    pub fn fine_shape(&self) -> (usize, usize) {
        (self.nf[0], self.nf[1])
    }
    fn launch(
        &self,
        func: &CudaFunction,
        src: &CudaSlice<f32>,
        dst: &mut CudaSlice<f32>,
        batch: usize,
    ) -> Result<(), CudaError> {
        let m = self.m as i64;
        let (nfy, nfx) = (self.nf[0] as i32, self.nf[1] as i32);
        let w = self.kernel.width as i32;
        let beta = self.kernel.beta as f32;
        let b = batch_i32(batch)?;
        let blocks = blocks_for("points", self.m, NUFFT_BLOCK)?;
        let stream = self.dev.stream();
        let mut l = stream.launch_builder(func);
        l.arg(&m)
            .arg(&nfy)
            .arg(&nfx)
            .arg(&w)
            .arg(&beta)
            .arg(&b)
            .arg(&self.traj)
            .arg(src)
            .arg(dst);
        // SAFETY: matches `nufft_spread`/`nufft_interp` (long long, int ×3, float, int,
        // const float* ×2, float*); the trajectory holds 2·M values, the callers checked the
        // interleaved lengths 2·batch·M and 2·batch·nfy·nfx, grid indices are wrapped in the kernel,
        // w ≤ FEDRECON_NUFFT_MAX_WIDTH, and the grid covers M threads.
        guarded("launching a NUFFT gridding kernel", || unsafe {
            l.launch(config(blocks, NUFFT_BLOCK))
        })?;
        Ok(())
    }
    /// Device-resident `grid (batch, nfy, nfx) = spread(c (batch, M))`; returns the batch size.
    pub fn spread_device(
        &self,
        c: &CudaSlice<f32>,
        grid: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of(
            "c (batched interleaved point values)",
            &[self.m, 2],
            c.len(),
        )?;
        check_len(
            "grid (batched interleaved fine grid)",
            &[b, self.nf[0], self.nf[1], 2],
            grid.len(),
        )?;
        guarded("zeroing the fine grid", || {
            self.dev.stream().memset_zeros(grid)
        })?;
        self.launch(&self.spread, c, grid, b)?;
        Ok(b)
    }
    /// Device-resident `y (batch, M) = interp(grid (batch, nfy, nfx))`; returns the batch size.
    pub fn interp_device(
        &self,
        grid: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        let b = batch_of(
            "grid (batched interleaved fine grid)",
            &[self.nf[0], self.nf[1], 2],
            grid.len(),
        )?;
        check_len(
            "y (batched interleaved point values)",
            &[b, self.m, 2],
            y.len(),
        )?;
        self.launch(&self.interp, grid, y, b)?;
        Ok(b)
    }
    /// Host-buffer spreading of a batch of point-value vectors.
    pub fn spread(&self, c: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        let b = batch_of("c (batched point values)", &[self.m], c.len())?;
        let dc = self.dev.upload("point values", &interleave(c))?;
        let mut dg = self
            .dev
            .zeros::<f32>("the fine grid", 2 * b * self.nf[0] * self.nf[1])?;
        self.spread_device(&dc, &mut dg)?;
        let mut g = vec![0.0f32; dg.len()];
        self.dev.download("the fine grid", &dg, &mut g)?;
        Ok(deinterleave(&g))
    }
    /// Host-buffer interpolation of a batch of fine grids.
    pub fn interp(&self, grid: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        let b = batch_of("grid (batched fine grid)", &self.nf, grid.len())?;
        let dg = self.dev.upload("the fine grid", &interleave(grid))?;
        let mut dy = self.dev.zeros::<f32>("point values", 2 * b * self.m)?;
        self.interp_device(&dg, &mut dy)?;
        let mut y = vec![0.0f32; dy.len()];
        self.dev.download("point values", &dy, &mut y)?;
        Ok(deinterleave(&y))
    }
}

/// The device as a [`Backend`] of the generic pipelines: buffers are `CudaSlice`s, launches go to
/// the device's stream in call order. The pipelines size every buffer and grid (and the
/// emulation tests run the same pipelines on the host-C++ kernels).
impl Backend for CudaDevice {
    type Buf = CudaSlice<f32>;
    type BufF64 = CudaSlice<f64>;
    fn upload(&self, what: &str, data: &[f32]) -> Result<CudaSlice<f32>, CudaError> {
        CudaDevice::upload(self, what, data)
    }
    fn upload_f64(&self, what: &str, data: &[f64]) -> Result<CudaSlice<f64>, CudaError> {
        CudaDevice::upload(self, what, data)
    }
    fn zeros(&self, what: &str, n: usize) -> Result<CudaSlice<f32>, CudaError> {
        CudaDevice::zeros(self, what, n)
    }
    fn fill_zero(&self, what: &str, buf: &mut CudaSlice<f32>) -> Result<(), CudaError> {
        guarded(&format!("zeroing {what}"), || {
            self.stream().memset_zeros(buf)
        })
    }
    fn download(&self, what: &str, buf: &CudaSlice<f32>, out: &mut [f32]) -> Result<(), CudaError> {
        check_len("host buffer of a download", &[buf.len()], out.len())?;
        CudaDevice::download(self, what, buf, out)
    }
    fn len(&self, buf: &CudaSlice<f32>) -> usize {
        buf.len()
    }
    fn fft_pass(
        &self,
        l: &FftLaunch,
        inverse: bool,
        tw: &CudaSlice<f32>,
        src: &CudaSlice<f32>,
        dst: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        let (fast, inv) = (l.inner_fastest, inverse as i32);
        // Launch contract (see `launch!`): matches `fft_stockham_pass` (int ×3, long long ×5, int ×2, const float* ×3 —
        // the last one written, float*); `Fft2Tables::launches` derives the strides and counts
        // from the buffers' (batch, ny, nx) shape, which the pipelines check, and `tw` is the
        // length-n table of this axis.
        launch!(
            self,
            KernelFile::Fft,
            "fft_stockham_pass",
            l.grid,
            FFT_BLOCK,
            [
                &l.n,
                &l.radix,
                &l.ns,
                &l.n_inner,
                &l.inner_stride,
                &l.n_outer,
                &l.outer_stride,
                &l.elem_stride,
                &fast,
                &inv,
                tw,
                src,
                dst
            ]
        )
    }
    fn roll_mask(
        &self,
        grid: u32,
        [ny, nx]: [i32; 2],
        batch: i32,
        [sy, sx]: [i32; 2],
        scale: f32,
        mask: Option<(&CudaSlice<f32>, bool)>,
        src: &CudaSlice<f32>,
        dst: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // without a mask the kernel never reads the mask pointer: pass `src`
        let (m, use_mask, at_src) = match mask {
            Some((m, at)) => (m, 1i32, at as i32),
            None => (src, 0, 0),
        };
        // Launch contract (see `launch!`): matches `sense_roll_mask` (int ×5, float, int ×2, const float* ×3 — the last
        // written, float*); src/dst hold batch·ny·nx complex values (checked by the pipeline), the
        // mask ny·nx values when used, shifts are in [0, n).
        launch!(
            self,
            KernelFile::Sense,
            "sense_roll_mask",
            grid,
            FFT_BLOCK,
            [
                &ny, &nx, &batch, &sy, &sx, &scale, &use_mask, &at_src, m, src, dst
            ]
        )
    }
    fn sense_expand(
        &self,
        grid: u32,
        n_pix: i64,
        coils: i32,
        batch: i32,
        maps: &CudaSlice<f32>,
        x: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `sense_expand` (long long, int, int, const float* ×2, float*); lengths
        // checked by the pipeline.
        launch!(
            self,
            KernelFile::Sense,
            "sense_expand",
            grid,
            SENSE_BLOCK,
            [&n_pix, &coils, &batch, maps, x, out]
        )
    }
    fn sense_reduce(
        &self,
        grid: u32,
        n_pix: i64,
        coils: i32,
        batch: i32,
        maps: &CudaSlice<f32>,
        t: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `sense_reduce`; lengths checked by the pipeline.
        launch!(
            self,
            KernelFile::Sense,
            "sense_reduce",
            grid,
            SENSE_BLOCK,
            [&n_pix, &coils, &batch, maps, t, x]
        )
    }
    fn deapod_pad(
        &self,
        grid: u32,
        [ny, nx, nfy, nfx]: [i32; 4],
        batch: i32,
        dy: &CudaSlice<f32>,
        dx: &CudaSlice<f32>,
        f: &CudaSlice<f32>,
        g: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `nufft_deapod_pad` (int ×5, const float* ×3, float*); lengths checked
        // by the pipeline, fine indices reduced modulo the fine grid in the kernel.
        launch!(
            self,
            KernelFile::Nufft,
            "nufft_deapod_pad",
            grid,
            FFT_BLOCK,
            [&ny, &nx, &nfy, &nfx, &batch, dy, dx, f, g]
        )
    }
    fn crop_deapod(
        &self,
        grid: u32,
        [ny, nx, nfy, nfx]: [i32; 4],
        batch: i32,
        dy: &CudaSlice<f32>,
        dx: &CudaSlice<f32>,
        g: &CudaSlice<f32>,
        f: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `nufft_crop_deapod`; as `deapod_pad`.
        launch!(
            self,
            KernelFile::Nufft,
            "nufft_crop_deapod",
            grid,
            FFT_BLOCK,
            [&ny, &nx, &nfy, &nfx, &batch, dy, dx, g, f]
        )
    }
    fn nufft_spread(
        &self,
        grid: u32,
        m: i64,
        [nfy, nfx]: [i32; 2],
        (w, beta): (i32, f32),
        batch: i32,
        traj: &CudaSlice<f32>,
        c: &CudaSlice<f32>,
        g: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `nufft_spread` (long long, int ×3, float, int, const float* ×2,
        // float*); the trajectory holds 2·M values, lengths checked by the pipeline, w ≤ 16.
        launch!(
            self,
            KernelFile::Nufft,
            "nufft_spread",
            grid,
            NUFFT_BLOCK,
            [&m, &nfy, &nfx, &w, &beta, &batch, traj, c, g]
        )
    }
    fn nufft_interp(
        &self,
        grid: u32,
        m: i64,
        [nfy, nfx]: [i32; 2],
        (w, beta): (i32, f32),
        batch: i32,
        traj: &CudaSlice<f32>,
        g: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `nufft_interp`; as `nufft_spread`.
        launch!(
            self,
            KernelFile::Nufft,
            "nufft_interp",
            grid,
            NUFFT_BLOCK,
            [&m, &nfy, &nfx, &w, &beta, &batch, traj, g, y]
        )
    }
    fn fbp_filter(
        &self,
        grid: u32,
        [na, nd]: [i32; 2],
        batch: i32,
        pre: &CudaSlice<f32>,
        taps: &CudaSlice<f32>,
        sino: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `fbp_filter_rows` (int ×3, const float* ×3, float*); the tables hold
        // n_angles·n_det pre-weights and 2·n_det − 1 taps, the sinograms are checked by the
        // pipeline.
        launch!(
            self,
            KernelFile::Fbp,
            "fbp_filter_rows",
            grid,
            FBP_BLOCK,
            [&na, &nd, &batch, pre, taps, sino, out]
        )
    }
    fn fbp_backproject(
        &self,
        grid: u32,
        kind: i32,
        [ny, nx, na, nd]: [i32; 4],
        batch: i32,
        [h, sod, sdd, spacing]: [f64; 4],
        k0: f32,
        fbp_weight: bool,
        views: &CudaSlice<f64>,
        view_w: &CudaSlice<f32>,
        q: &CudaSlice<f32>,
        img: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        let fw = fbp_weight as i32;
        // Launch contract (see `launch!`): matches `fbp_backproject_pixel_driven` (int ×6, double ×4, float, int,
        // const double*, const float* ×2, float*); the view tables hold 2·n_angles and n_angles
        // values, q and img are checked by the pipeline, detector indices are bounds-tested.
        launch!(
            self,
            KernelFile::Fbp,
            "fbp_backproject_pixel_driven",
            grid,
            FBP_BLOCK,
            [
                &kind, &ny, &nx, &na, &nd, &batch, &h, &sod, &sdd, &spacing, &k0, &fw, views,
                view_w, q, img
            ]
        )
    }
}

/// Filtered back-projection on the GPU: the filter (direct convolution with the taps of the CPU
/// `Fbp`'s frequency response, after the fan pre-weights) and the pixel-driven FBP
/// back-projector, both on the device (`fedrecon_physics::ct::fbp::Fbp`; the emulation tests hold
/// the back-projection bit-exact and the whole FBP within 1e-5 relative L2 of the CPU).
pub struct FbpCuda {
    dev: CudaDevice,
    geom: CtGeometry,
    pipe: FbpPipeline<CudaDevice>,
}

impl std::fmt::Debug for FbpCuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FbpCuda")
            .field("device", &self.dev)
            .field("pipeline", &self.pipe)
            .finish()
    }
}

impl FbpCuda {
    /// Plan an FBP of `geom` with `opts` on `dev` (option and geometry errors as `Fbp::new`).
    pub fn new(
        dev: &CudaDevice,
        geom: impl Into<CtGeometry>,
        opts: &FbpOptions,
    ) -> Result<Self, CudaError> {
        let geom = geom.into();
        Ok(Self {
            pipe: FbpPipeline::new(dev, &geom, opts)?,
            dev: dev.clone(),
            geom,
        })
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        &self.geom
    }
    /// Device-resident `img (batch, ny, nx)` from `sino (batch, n_angles, n_det)`.
    pub fn reconstruct_device(
        &self,
        sino: &CudaSlice<f32>,
        img: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.reconstruct(&self.dev, sino, img)
    }
    /// Device-resident filtering step only.
    pub fn filter_device(
        &self,
        sino: &CudaSlice<f32>,
        q: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.filter(&self.dev, sino, q)
    }
    /// Device-resident pixel-driven back-projection of filtered rows.
    pub fn backproject_device(
        &self,
        q: &CudaSlice<f32>,
        img: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.backproject(&self.dev, q, img)
    }
    /// Host-buffer FBP of a batch of sinograms (`sino.len()` a multiple of `n_angles·n_det`).
    pub fn reconstruct(&self, sino: &[f32]) -> Result<Vec<f32>, CudaError> {
        fedrecon_physics::error::check_finite("sinogram", sino)?;
        let b = batch_of(
            "sinogram (batch, angles, detectors)",
            &self.geom.sino_shape(),
            sino.len(),
        )?;
        let ds = self.dev.upload("the sinogram", sino)?;
        let mut di = self
            .dev
            .zeros::<f32>("the image", b * self.geom.image().len())?;
        self.reconstruct_device(&ds, &mut di)?;
        let mut out = vec![0.0f32; di.len()];
        self.dev.download("the image", &di, &mut out)?;
        Ok(out)
    }
}

/// Shared host-buffer plumbing of the complex operators: upload, run a device-resident map,
/// download.
fn host_apply(
    dev: &CudaDevice,
    x: &[Complex32],
    out_len: usize,
    f: impl FnOnce(&CudaSlice<f32>, &mut CudaSlice<f32>) -> Result<usize, CudaError>,
) -> Result<(Vec<Complex32>, usize), CudaError> {
    let dx = dev.upload("the input", &interleave(x))?;
    let mut dy = dev.zeros::<f32>("the output", 2 * out_len)?;
    let b = f(&dx, &mut dy)?;
    let mut y = vec![0.0f32; dy.len()];
    dev.download("the output", &dy, &mut y)?;
    Ok((deinterleave(&y), b))
}

macro_rules! complex_operator {
    ($t:ident, $name:literal) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct($name)
                    .field("device", &self.dev)
                    .field("pipeline", &self.pipe)
                    .finish()
            }
        }

        impl $t {
            /// The device.
            pub fn device(&self) -> &CudaDevice {
                &self.dev
            }
            /// Host-buffer forward map of a batch (leading axis); returns the batch size.
            pub fn try_forward(
                &self,
                x: &[Complex32],
                y: &mut [Complex32],
            ) -> Result<usize, CudaError> {
                let b = batch_of("x (batched domain)", &self.dom, x.len())?;
                check_len("y (batched range)", &[b, self.ran_len()], y.len())?;
                let (out, b) =
                    host_apply(&self.dev, x, y.len(), |dx, dy| self.forward_device(dx, dy))?;
                y.copy_from_slice(&out);
                Ok(b)
            }
            /// Host-buffer adjoint of a batch; returns the batch size.
            pub fn try_adjoint(
                &self,
                y: &[Complex32],
                x: &mut [Complex32],
            ) -> Result<usize, CudaError> {
                let b = batch_of("y (batched range)", &self.ran, y.len())?;
                check_len(
                    "x (batched domain)",
                    &[b, self.dom.iter().product()],
                    x.len(),
                )?;
                let (out, b) =
                    host_apply(&self.dev, y, x.len(), |dy, dx| self.adjoint_device(dy, dx))?;
                x.copy_from_slice(&out);
                Ok(b)
            }
            /// Host-buffer normal map `AᴴA x` with the intermediate kept on the device.
            pub fn try_normal(
                &self,
                x: &[Complex32],
                z: &mut [Complex32],
            ) -> Result<usize, CudaError> {
                let b = batch_of("x (batched domain)", &self.dom, x.len())?;
                check_len(
                    "z (batched domain)",
                    &[b, self.dom.iter().product()],
                    z.len(),
                )?;
                let mid = 2 * b * self.ran_len();
                let (out, b) = host_apply(&self.dev, x, z.len(), |dx, dz| {
                    let mut t = self.dev.zeros::<f32>("the intermediate", mid)?;
                    self.forward_device(dx, &mut t)?;
                    self.adjoint_device(&t, dz)
                })?;
                z.copy_from_slice(&out);
                Ok(b)
            }
            fn ran_len(&self) -> usize {
                self.ran.iter().product()
            }
        }

        impl LinearOperator<Complex32> for $t {
            fn domain_shape(&self) -> &[usize] {
                &self.dom
            }
            fn range_shape(&self) -> &[usize] {
                &self.ran
            }
            fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
                if let Err(e) = self.try_forward(x, y) {
                    panic!(concat!($name, " forward failed on the device: {}"), e);
                }
            }
            fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
                if let Err(e) = self.try_adjoint(y, x) {
                    panic!(concat!($name, " adjoint failed on the device: {}"), e);
                }
            }
            fn apply_normal(&self, x: &[Complex32], z: &mut [Complex32]) {
                if let Err(e) = self.try_normal(x, z) {
                    panic!(concat!($name, " normal map failed on the device: {}"), e);
                }
            }
            fn forward_batch(
                &self,
                x: &[Complex32],
                y: &mut [Complex32],
            ) -> fedrecon_physics::Result<usize> {
                // one batched launch sequence (e.g. all coils at once); shape errors are errors
                match self.try_forward(x, y) {
                    Ok(b) => Ok(b),
                    Err(CudaError::Physics(e)) => Err(e),
                    Err(e) => panic!(concat!($name, " forward failed on the device: {}"), e),
                }
            }
            fn adjoint_batch(
                &self,
                y: &[Complex32],
                x: &mut [Complex32],
            ) -> fedrecon_physics::Result<usize> {
                match self.try_adjoint(y, x) {
                    Ok(b) => Ok(b),
                    Err(CudaError::Physics(e)) => Err(e),
                    Err(e) => panic!(concat!($name, " adjoint failed on the device: {}"), e),
                }
            }
        }
    };
}

/// The full 2-D NUFFT on the GPU — deapodisation, the oversampled-grid FFT (the mixed-radix
/// Stockham kernel) and ES-kernel interpolation/spreading — as the [`LinearOperator`]
/// `(ny, nx) → (M)` of `fedrecon_physics::mri::NufftPlan` (forward type 2, adjoint type 1),
/// batched over a leading (coil) axis in one launch sequence. [`Self::type2_device`] and
/// [`Self::type1_device`] keep data on the device; the trait methods copy host buffers (and panic
/// with the driver's message if the device fails after construction; `try_*` return it).
pub struct NufftPlanCuda {
    dev: CudaDevice,
    pipe: NufftPipeline<CudaDevice>,
    dom: [usize; 2],
    ran: [usize; 1],
}

impl NufftPlanCuda {
    /// The NUFFT of `plan` (trajectory, fine grid, kernel, deapodisation) on `dev`.
    pub fn new(dev: &CudaDevice, plan: &NufftPlan) -> Result<Self, CudaError> {
        let (ny, nx) = plan.image_shape();
        Ok(Self {
            pipe: NufftPipeline::new(dev, plan)?,
            dev: dev.clone(),
            dom: [ny, nx],
            ran: [plan.n_points()],
        })
    }
    /// Device-resident type 2 of `f (batch, ny, nx)` (interleaved complex) into `y (batch, M)`.
    pub fn type2_device(
        &self,
        f: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.type2(&self.dev, f, y)
    }
    /// Device-resident type 1 of `c (batch, M)` into `f (batch, ny, nx)`.
    pub fn type1_device(
        &self,
        c: &CudaSlice<f32>,
        f: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.type1(&self.dev, c, f)
    }
    fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.type2_device(x, y)
    }
    fn adjoint_device(
        &self,
        y: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.type1_device(y, x)
    }
}

complex_operator!(NufftPlanCuda, "NufftPlanCuda");

/// Cartesian multi-coil SENSE `y_c = M ⊙ fft2c(S_c ⊙ x)` on the GPU (`SenseOperator`): the coil
/// weighting, the centred orthonormal FFT (exact shifts around the Stockham kernel) and the mask,
/// `(ny, nx) → (coils, ny, nx)`, batched over a leading axis. Device-resident
/// [`Self::forward_device`] / [`Self::adjoint_device`]; host-buffer trait methods as
/// [`NufftPlanCuda`]'s.
pub struct SenseOperatorCuda {
    dev: CudaDevice,
    pipe: SensePipeline<CudaDevice>,
    dom: [usize; 2],
    ran: [usize; 3],
}

impl SenseOperatorCuda {
    /// Coil `maps (coils, ny, nx)` and an optional sampling mask, on `dev`.
    pub fn new(
        dev: &CudaDevice,
        maps: &[Complex32],
        coils: usize,
        ny: usize,
        nx: usize,
        mask: Option<&SamplingMask>,
    ) -> Result<Self, CudaError> {
        fedrecon_physics::error::check_finite(
            "maps",
            &maps.iter().flat_map(|c| [c.re, c.im]).collect::<Vec<f32>>(),
        )?;
        Ok(Self {
            pipe: SensePipeline::new(dev, maps, coils, (ny, nx), mask)?,
            dev: dev.clone(),
            dom: [ny, nx],
            ran: [coils, ny, nx],
        })
    }
    /// Device-resident `y (batch, coils, ny, nx) = M F S x (batch, ny, nx)`.
    pub fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.forward(&self.dev, x, y)
    }
    /// Device-resident `x = Sᴴ Fᴴ M y`.
    pub fn adjoint_device(
        &self,
        y: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.adjoint(&self.dev, y, x)
    }
}

complex_operator!(SenseOperatorCuda, "SenseOperatorCuda");

/// Non-Cartesian multi-coil SENSE `y_c = A(S_c ⊙ x)` on the GPU (`NufftSenseOperator` without the
/// Toeplitz option): coil weighting and the full NUFFT of all coils in one batched sequence,
/// `(ny, nx) → (coils, M)`.
pub struct NufftSenseOperatorCuda {
    dev: CudaDevice,
    pipe: NufftSensePipeline<CudaDevice>,
    dom: [usize; 2],
    ran: [usize; 2],
}

impl NufftSenseOperatorCuda {
    /// Coil `maps (coils, ny, nx)` with the NUFFT of `plan`, on `dev`.
    pub fn new(
        dev: &CudaDevice,
        plan: &NufftPlan,
        maps: &[Complex32],
        coils: usize,
    ) -> Result<Self, CudaError> {
        let (ny, nx) = plan.image_shape();
        Ok(Self {
            pipe: NufftSensePipeline::new(dev, plan, maps, coils)?,
            dev: dev.clone(),
            dom: [ny, nx],
            ran: [coils, plan.n_points()],
        })
    }
    /// Device-resident `y (batch, coils, M) = A S x (batch, ny, nx)`.
    pub fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.forward(&self.dev, x, y)
    }
    /// Device-resident `x = Sᴴ Aᴴ y`.
    pub fn adjoint_device(
        &self,
        y: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.adjoint(&self.dev, y, x)
    }
}

complex_operator!(NufftSenseOperatorCuda, "NufftSenseOperatorCuda");
