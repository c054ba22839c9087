// Joseph's ray-driven projector and its exact transpose, one thread per (angle, detector) ray.
//
// Joseph (1982), "An improved algorithm for reprojecting rays through pixel images", IEEE TMI 1(3).
// This is a line-by-line port of crates/physics/src/ct/joseph.rs (`JosephRay::new`, `integrate`,
// `scatter`) and of `CtGeometry::ray` in crates/physics/src/geometry.rs:
//
//   p(ray) = (h / |dir_major|) · Σ_{k=k0..k1} [(1 − w_k)·f(m₀_k, k) + w_k·f(m₀_k + 1, k)],
//   m_k = a + b·k (padded minor index, valid iff 0 < m_k < n_minor + 1), m₀_k = ⌊m_k⌋, w_k = m_k − m₀_k,
//
// where the padded index m' addresses image row (x-major) or column (y-major) m' − 1 and the two
// padding lines are zero. Instead of copying the image into the CPU's padded layouts the kernels
// test the index, which reads the same values, so the arithmetic (and with --fmad=false the
// result) is identical to the CPU's.
//
// The ray set-up runs once per geometry (joseph_prepare_rays, in double precision exactly like the
// CPU); the sines and cosines come from the host (Rust's f64 sin/cos) so that no libm difference
// can move a ray. The forward kernel gathers, the transpose runs the very same loop and scatters
// with atomicAdd: the matched adjoint up to the order of the float additions.
//
// Memory access (coalescing). Consecutive threads are consecutive detector cells of one view, so
// at step k their minor indices m_k differ by about one. A ray steps along its *major* axis and
// interpolates along the minor one: y-major rays (steep, |dir_y| > |dir_x|) step over rows and
// read columns m − 1 of row k — consecutive addresses across a warp, coalesced — but x-major
// rays step over columns and read rows m − 1 of column k, a stride of nx floats per thread (one
// memory transaction per thread). So x-major rays read a transposed copy of the image instead,
// img_t (nx, ny), in which the same values sit at k·ny + m − 1, consecutive again: every ray
// reads element k·n_minor + (m − 1) of its "minor-contiguous" layout (img for y-major, img_t for
// x-major). joseph_transpose makes the copy once per application (one pass over the image, against
// ~n_angles/2 passes by the x-major rays), and the transpose kernel scatters x-major rays into a
// transposed accumulator that joseph_transpose then adds into the image, so the atomics of a warp
// also hit consecutive addresses. The values read and added are the same as with one layout, so
// the forward projection is unchanged bit for bit. The ray table is 3 floats + 3 ints per ray,
// read once per ray (strided by 3; it is small and served from L1/L2).
// Tuning constants: FEDRECON_JOSEPH_BLOCK (threads per block of the ray kernels) and
// FEDRECON_JOSEPH_TRANSPOSE_BLOCK (threads per block of joseph_transpose), in fedrecon.cuh.
#include "fedrecon.cuh"

// Prepare one ray per thread. `trig` is (sin θ, cos θ) per angle; `det` is, per detector cell,
// (u, 0) for parallel and flat fan beams and (sin γ, cos γ), γ = u / sdd, for a curved detector.
extern "C" __global__ void joseph_prepare_rays(int kind, int ny, int nx, int n_angles, int n_det,
                                               double h, double sod, double sdd,
                                               const double* __restrict__ trig,
                                               const double* __restrict__ det,
                                               float* __restrict__ ray_f, int* __restrict__ ray_i) {
    long long r = fedrecon_global_x();
    long long n_rays = (long long)n_angles * (long long)n_det;
    if (r >= n_rays) return;
    int ia = (int)(r / n_det);
    int id = (int)(r % n_det);
    double s = trig[2 * ia], c = trig[2 * ia + 1];
    // CtGeometry::ray_at
    double d0 = -s, d1 = c;  // d̂
    double e0 = c, e1 = s;   // ê
    double o0, o1, vx, vy;
    if (kind == FEDRECON_PARALLEL) {
        double u = det[2 * id];
        o0 = u * e0;
        o1 = u * e1;
        vx = d0;
        vy = d1;
    } else {
        double src0 = sod * s, src1 = -sod * c;
        double p0, p1;
        if (kind == FEDRECON_FAN_FLAT) {
            double u = det[2 * id];
            p0 = src0 + sdd * d0 + u * e0;
            p1 = src1 + sdd * d1 + u * e1;
        } else {
            double sg = det[2 * id], cg = det[2 * id + 1];
            p0 = src0 + sdd * (cg * d0 + sg * e0);
            p1 = src1 + sdd * (cg * d1 + sg * e1);
        }
        double v0 = p0 - src0, v1 = p1 - src1;
        double n = sqrt(v0 * v0 + v1 * v1);
        o0 = src0;
        o1 = src1;
        vx = v0 / n;
        vy = v1 / n;
    }
    // JosephRay::new
    double ox = o0 / h, oy = o1 / h;
    double cx = ((double)nx - 1.0) / 2.0, cy = ((double)ny - 1.0) / 2.0;
    int x_major = fabs(vx) >= fabs(vy);
    double a64, b64, weight;
    int n_major, n_minor;
    if (x_major) {
        double k = vy / vx;
        a64 = cy - oy + (cx + ox) * k;
        b64 = -k;
        n_major = nx;
        n_minor = ny;
        weight = h / fabs(vx);
    } else {
        double k = vx / vy;
        a64 = cx + ox + (cy - oy) * k;
        b64 = -k;
        n_major = ny;
        n_minor = nx;
        weight = h / fabs(vy);
    }
    float a = (float)(a64 + 1.0), b = (float)b64;
    float upper = (float)(n_minor + 1);
    double lo, hi;
    if (b == 0.0f) {
        float m = a + b * 0.0f;
        if (m > 0.0f && m < upper) {
            lo = 0.0;
            hi = (double)n_major;
        } else {
            lo = 1.0;
            hi = 0.0;
        }
    } else {
        double t1 = (0.0 - (double)a) / (double)b;
        double t2 = ((double)upper - (double)a) / (double)b;
        lo = fmin(t1, t2);
        hi = fmax(t1, t2);
    }
    int k0 = (int)fmin(fmax(floor(lo) - 2.0, 0.0), (double)n_major);
    int k1 = (int)fmin(fmax(ceil(hi) + 2.0, -1.0), (double)n_major - 1.0);
    while (k0 <= k1) {
        float m = a + b * (float)k0;
        if (m > 0.0f && m < upper) break;
        k0 += 1;
    }
    while (k1 >= k0) {
        float m = a + b * (float)k1;
        if (m > 0.0f && m < upper) break;
        k1 -= 1;
    }
    if (k1 < k0) {
        k0 = 1;
        k1 = 0;
    }
    ray_f[FEDRECON_RAY_F * r] = a;
    ray_f[FEDRECON_RAY_F * r + 1] = b;
    ray_f[FEDRECON_RAY_F * r + 2] = (float)weight;
    ray_i[FEDRECON_RAY_I * r] = k0;
    ray_i[FEDRECON_RAY_I * r + 1] = k1;
    ray_i[FEDRECON_RAY_I * r + 2] = x_major;
}

// One prepared ray, as joseph_prepare_rays stores it.
struct JosephRay {
    float a, b, weight;
    int k0, k1, x_major;
};

static __device__ __forceinline__ JosephRay joseph_ray(const float* __restrict__ ray_f,
                                                       const int* __restrict__ ray_i,
                                                       long long r) {
    JosephRay ray;
    ray.a = ray_f[FEDRECON_RAY_F * r];
    ray.b = ray_f[FEDRECON_RAY_F * r + 1];
    ray.weight = ray_f[FEDRECON_RAY_F * r + 2];
    ray.k0 = ray_i[FEDRECON_RAY_I * r];
    ray.k1 = ray_i[FEDRECON_RAY_I * r + 1];
    ray.x_major = ray_i[FEDRECON_RAY_I * r + 2];
    return ray;
}

// Image value at padded minor index `m` (1..=n_minor is the image, 0 and n_minor + 1 are zero
// padding) and major index `k`, in the minor-contiguous layout `f` (row length n_minor).
static __device__ __forceinline__ float joseph_fetch(const float* __restrict__ f, int n_minor,
                                                    int m, int k) {
    if (m < 1 || m > n_minor) return 0.0f;
    return f[(long long)k * n_minor + (m - 1)];
}

// dst[b] = src[b]ᵀ (or dst[b] += src[b]ᵀ with `accumulate`) for `batch` arrays (rows, cols)
// → (cols, rows); one thread per destination element, so the writes are coalesced.
extern "C" __global__ void joseph_transpose(int rows, int cols, int batch, int accumulate,
                                            const float* __restrict__ src,
                                            float* __restrict__ dst) {
    long long n = (long long)rows * cols, t, ib, p;
    if (!fedrecon_batched(n, batch, &t, &ib, &p)) return;
    long long c = p / rows, r = p % rows;
    float v = src[ib * n + r * cols + c];
    dst[t] = accumulate ? dst[t] + v : v;
}

// sino[b, ray] = line integral of image b, for `batch` images (ny, nx) and sinograms (n_rays);
// `img_t` holds the same images transposed, (nx, ny) (joseph_transpose), for the x-major rays.
extern "C" __global__ void joseph_forward(int ny, int nx, long long n_rays, int batch,
                                          const float* __restrict__ ray_f,
                                          const int* __restrict__ ray_i,
                                          const float* __restrict__ img,
                                          const float* __restrict__ img_t,
                                          float* __restrict__ sino) {
    long long r = fedrecon_global_x();
    if (r >= n_rays) return;
    JosephRay ray = joseph_ray(ray_f, ray_i, r);
    float a = ray.a, b = ray.b, weight = ray.weight;
    int k0 = ray.k0, k1 = ray.k1, x_major = ray.x_major;
    int n_minor = x_major ? ny : nx;
    long long n_pix = (long long)ny * nx;
    for (int ib = 0; ib < batch; ++ib) {
        const float* f = (x_major ? img_t : img) + ib * n_pix;
        float acc = 0.0f;
        for (int k = k0; k <= k1; ++k) {
            float m = a + b * (float)k;
            int i0 = (int)m;
            float w = m - (float)i0;
            float lo = joseph_fetch(f, n_minor, i0, k);
            float up = joseph_fetch(f, n_minor, i0 + 1, k);
            acc += lo + w * (up - lo);
        }
        sino[ib * n_rays + r] = k0 > k1 ? 0.0f : acc * weight;
    }
}

// Add `v` at padded minor index `m`, major index `k` of the minor-contiguous layout `f`
// (padding is dropped).
static __device__ __forceinline__ void joseph_add(float* f, int n_minor, int m, int k, float v) {
    if (m < 1 || m > n_minor) return;
    atomicAdd(f + (long long)k * n_minor + (m - 1), v);
}

// The transpose of joseph_forward: y-major rays add Pᵀ sino[b] into img[b] (ny, nx), x-major
// rays into img_t[b] (nx, ny); the caller zeroes both and then adds img_t transposed into img
// (joseph_transpose with accumulate) for img = Pᵀ sino.
extern "C" __global__ void joseph_backward(int ny, int nx, long long n_rays, int batch,
                                           const float* __restrict__ ray_f,
                                           const int* __restrict__ ray_i,
                                           const float* __restrict__ sino, float* img,
                                           float* img_t) {
    long long r = fedrecon_global_x();
    if (r >= n_rays) return;
    JosephRay ray = joseph_ray(ray_f, ray_i, r);
    float a = ray.a, b = ray.b, weight = ray.weight;
    int k0 = ray.k0, k1 = ray.k1, x_major = ray.x_major;
    if (k0 > k1) return;
    int n_minor = x_major ? ny : nx;
    long long n_pix = (long long)ny * nx;
    for (int ib = 0; ib < batch; ++ib) {
        float v = sino[ib * n_rays + r];
        if (v == 0.0f) continue;
        v = v * weight;
        float* f = (x_major ? img_t : img) + ib * n_pix;
        for (int k = k0; k <= k1; ++k) {
            float m = a + b * (float)k;
            int i0 = (int)m;
            float w = m - (float)i0;
            float vw = v * w;
            joseph_add(f, n_minor, i0, k, v - vw);
            joseph_add(f, n_minor, i0 + 1, k, vw);
        }
    }
}
