// NUFFT gridding on the GPU: spreading (type 1) and interpolation (type 2) with the
// "exponential of semicircle" kernel of FINUFFT (Barnett, Magland, af Klinteberg 2019, SIAM J.
// Sci. Comput. 41(5)), one thread per non-uniform point:
//
//   ψ(s) = exp(β (√(1 − (2s/w)²) − 1)) for |s| < w/2, else 0 (s in fine-grid cells),
//   spread:  G[l_y, l_x] += Σ_m c_m · ψ(t_y,m − l_y) · ψ(t_x,m − l_x)   (periodic l)
//   interp:  y_m = Σ_{l_y, l_x} G[l_y, l_x] · ψ(t_y,m − l_y) · ψ(t_x,m − l_x)
//
// with t = fold(k · nf) ∈ [0, nf) and the w cells l = ⌈t − w/2⌉ + i, i < w (as the CPU's
// `SortedPoints` in crates/physics/src/mri/nufft.rs). The two are exact transposes of each other.
// Unlike the CPU, which evaluates ψ through piecewise polynomials, ψ is evaluated directly in
// float (expf, sqrtf), so the results agree with the CPU to the kernel's f32 accuracy, not bit
// for bit. The fine grid is (nfy, nfx), row-major, interleaved complex; the trajectory (M, 2)
// holds (kx, ky) in cycles/pixel. Both kernels take a batch of value vectors / grids.
//
// Memory access. One thread per point (FEDRECON_NUFFT_BLOCK per block), in the caller's point
// order: each thread touches a w × w patch of the fine grid, w consecutive cells per row (one or
// two cache lines), and loops over the batch (coils) with the kernel values kept in registers, so
// ψ is evaluated once per point for all coils. Points are NOT sorted into bins on the GPU yet:
// for a trajectory stored spoke by spoke, consecutive threads are neighbours in k-space and their
// patches overlap (good L2 reuse, but contended atomics in spreading); for a random order both
// kernels are gather/scatter bound. Sorting (the CPU's `SortedPoints`) is the next step.
// nufft_deapod_pad / nufft_crop_deapod (FEDRECON_FFT_BLOCK) run one thread per image pixel in
// row-major order: contiguous reads and writes within each image row.
#include "fedrecon.cuh"

// Fold `t` (cells of a grid of `n`) onto [0, n): `fold` in nufft.rs.
static __device__ __forceinline__ double nufft_fold(double t, int n_) {
    double n = (double)n_;
    double u = fabs(t) < n ? t : fmod(t, n);
    if (u < 0.0) u += n;
    return u >= n ? u - n : u;
}

// First cell l0 and the w kernel values ψ(t − l0 − i) of one axis.
static __device__ __forceinline__ int nufft_axis(double t, int w, float beta, float* psi) {
    double half = (double)w / 2.0;
    double l0 = ceil(t - half);
    for (int i = 0; i < w; ++i) {
        float z = (float)(2.0 * (t - (l0 + (double)i)) / (double)w);
        psi[i] = fabsf(z) >= 1.0f ? 0.0f : expf(beta * (sqrtf(1.0f - z * z) - 1.0f));
    }
    return (int)l0;
}

// This thread's point p of the trajectory (kx, ky): its first fine-grid cells (lx, ly) and the
// w kernel values along each axis.
struct NufftPoint {
    long long p;
    int lx, ly;
    float px[FEDRECON_NUFFT_MAX_WIDTH], py[FEDRECON_NUFFT_MAX_WIDTH];
};

// False for the threads past the last of the m points.
static __device__ __forceinline__ bool nufft_point(const float* __restrict__ traj, long long m,
                                                   int nfy, int nfx, int w, float beta,
                                                   NufftPoint* pt) {
    long long p = fedrecon_global_x();
    if (p >= m) return false;
    pt->p = p;
    pt->lx = nufft_axis(nufft_fold((double)traj[2 * p] * (double)nfx, nfx), w, beta, pt->px);
    pt->ly = nufft_axis(nufft_fold((double)traj[2 * p + 1] * (double)nfy, nfy), w, beta, pt->py);
    return true;
}

static __device__ __forceinline__ int nufft_wrap(int l, int n) {
    l %= n;
    return l < 0 ? l + n : l;
}

// grid[b] += spread(c[b]) for `batch` value vectors (M) and grids (nfy, nfx); zero the grids
// first for grid = spread(c).
extern "C" __global__ void nufft_spread(long long m, int nfy, int nfx, int w, float beta,
                                        int batch, const float* __restrict__ traj,
                                        const float* __restrict__ c, float* grid) {
    NufftPoint pt;
    if (!nufft_point(traj, m, nfy, nfx, w, beta, &pt)) return;
    long long p = pt.p, n_grid = (long long)nfy * nfx;
    for (int ib = 0; ib < batch; ++ib) {
        float cr = c[2 * (ib * m + p)], ci = c[2 * (ib * m + p) + 1];
        float* g = grid + 2 * ib * n_grid;
        for (int iy = 0; iy < w; ++iy) {
            long long row = (long long)nufft_wrap(pt.ly + iy, nfy) * nfx;
            for (int ix = 0; ix < w; ++ix) {
                float k = pt.py[iy] * pt.px[ix];
                long long q = 2 * (row + nufft_wrap(pt.lx + ix, nfx));
                atomicAdd(g + q, cr * k);
                atomicAdd(g + q + 1, ci * k);
            }
        }
    }
}

// y[b] = interp(grid[b]): the transpose of nufft_spread.
extern "C" __global__ void nufft_interp(long long m, int nfy, int nfx, int w, float beta,
                                        int batch, const float* __restrict__ traj,
                                        const float* __restrict__ grid, float* __restrict__ y) {
    NufftPoint pt;
    if (!nufft_point(traj, m, nfy, nfx, w, beta, &pt)) return;
    long long p = pt.p, n_grid = (long long)nfy * nfx;
    for (int ib = 0; ib < batch; ++ib) {
        const float* g = grid + 2 * ib * n_grid;
        float ar = 0.0f, ai = 0.0f;
        for (int iy = 0; iy < w; ++iy) {
            long long row = (long long)nufft_wrap(pt.ly + iy, nfy) * nfx;
            float rr = 0.0f, ri = 0.0f;
            for (int ix = 0; ix < w; ++ix) {
                long long q = 2 * (row + nufft_wrap(pt.lx + ix, nfx));
                rr += g[q] * pt.px[ix];
                ri += g[q + 1] * pt.px[ix];
            }
            ar += rr * pt.py[iy];
            ai += ri * pt.py[iy];
        }
        y[2 * (ib * m + p)] = ar;
        y[2 * (ib * m + p) + 1] = ai;
    }
}

// For pixel p = (i, j) of image ib of a batch of (ny, nx) images: the interleaved index of its
// fine-grid cell, row (i − ⌊ny/2⌋) mod nfy and column (j − ⌊nx/2⌋) mod nfx of grid ib, and in
// `c` the deapodisation factor dy[i]·dx[j].
static __device__ __forceinline__ long long nufft_fine_index(long long ib, long long p, int ny,
                                                            int nx, int nfy, int nfx,
                                                            const float* __restrict__ dy,
                                                            const float* __restrict__ dx,
                                                            float* c) {
    int i = (int)(p / nx), j = (int)(p % nx);
    int row = (i + nfy - ny / 2) % nfy, col = (j + nfx - nx / 2) % nfx;
    *c = dy[i] * dx[j];
    return 2 * ((ib * nfy + row) * (long long)nfx + col);
}

// Type 2's first step: grid[b] (zeroed by the caller) gets image b divided by the deapodisation,
// f(i, j)·dy[i]·dx[j] (dy, dx hold 1/ψ̂ per image row and column), at fine row (i − ⌊ny/2⌋) mod nfy
// and fine column (j − ⌊nx/2⌋) mod nfx, as `image_to_fine` in nufft.rs. One thread per pixel.
extern "C" __global__ void nufft_deapod_pad(int ny, int nx, int nfy, int nfx, int batch,
                                            const float* __restrict__ dy,
                                            const float* __restrict__ dx,
                                            const float* __restrict__ f, float* __restrict__ grid) {
    long long t, ib, p;
    if (!fedrecon_batched((long long)ny * nx, batch, &t, &ib, &p)) return;
    float c;
    long long g = nufft_fine_index(ib, p, ny, nx, nfy, nfx, dy, dx, &c);
    grid[g] = f[2 * t] * c;
    grid[g + 1] = f[2 * t + 1] * c;
}

// Type 1's last step, the transpose of nufft_deapod_pad: crop the fine grid and deapodise,
// f(i, j) = grid[fine row, fine column]·dy[i]·dx[j] (`fine_to_image` in nufft.rs).
extern "C" __global__ void nufft_crop_deapod(int ny, int nx, int nfy, int nfx, int batch,
                                             const float* __restrict__ dy,
                                             const float* __restrict__ dx,
                                             const float* __restrict__ grid,
                                             float* __restrict__ f) {
    long long t, ib, p;
    if (!fedrecon_batched((long long)ny * nx, batch, &t, &ib, &p)) return;
    float c;
    long long g = nufft_fine_index(ib, p, ny, nx, nfy, nfx, dy, dx, &c);
    f[2 * t] = grid[g] * c;
    f[2 * t + 1] = grid[g + 1] * c;
}
