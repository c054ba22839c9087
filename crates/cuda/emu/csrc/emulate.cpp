// The CUDA kernels of kernels/ compiled as host C++ (see cuda_host_shim.h), with C launchers
// that take the grid and block size exactly like a device launch.
#include "cuda_host_shim.h"

thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

#include "joseph.cu"
#include "sense.cu"
#include "nufft.cu"
#include "fft.cu"
#include "fbp.cu"

extern "C" {

void emu_joseph_prepare_rays(unsigned int grid, unsigned int block, int kind, int ny, int nx,
                             int n_angles, int n_det, double h, double sod, double sdd,
                             const double* trig, const double* det, float* ray_f, int* ray_i) {
    fedrecon_emulate_1d(grid, block, [&] {
        joseph_prepare_rays(kind, ny, nx, n_angles, n_det, h, sod, sdd, trig, det, ray_f, ray_i);
    });
}

void emu_joseph_forward(unsigned int grid, unsigned int block, int ny, int nx, long long n_rays,
                        int batch, const float* ray_f, const int* ray_i, const float* img,
                        const float* img_t, float* sino) {
    fedrecon_emulate_1d(grid, block, [&] {
        joseph_forward(ny, nx, n_rays, batch, ray_f, ray_i, img, img_t, sino);
    });
}

void emu_joseph_backward(unsigned int grid, unsigned int block, int ny, int nx, long long n_rays,
                         int batch, const float* ray_f, const int* ray_i, const float* sino,
                         float* img, float* img_t) {
    fedrecon_emulate_1d(grid, block, [&] {
        joseph_backward(ny, nx, n_rays, batch, ray_f, ray_i, sino, img, img_t);
    });
}

void emu_joseph_transpose(unsigned int grid, unsigned int block, int rows, int cols, int batch,
                          int accumulate, const float* src, float* dst) {
    fedrecon_emulate_1d(grid, block,
                        [&] { joseph_transpose(rows, cols, batch, accumulate, src, dst); });
}

void emu_sense_expand(unsigned int grid, unsigned int block, long long n_pix, int coils,
                      int batch, const float* maps, const float* x, float* out) {
    fedrecon_emulate_1d(grid, block, [&] { sense_expand(n_pix, coils, batch, maps, x, out); });
}

void emu_sense_reduce(unsigned int grid, unsigned int block, long long n_pix, int coils,
                      int batch, const float* maps, const float* t, float* x) {
    fedrecon_emulate_1d(grid, block, [&] { sense_reduce(n_pix, coils, batch, maps, t, x); });
}

void emu_nufft_spread(unsigned int grid, unsigned int block, long long m, int nfy, int nfx, int w,
                      float beta, int batch, const float* traj, const float* c, float* g) {
    fedrecon_emulate_1d(grid, block,
                        [&] { nufft_spread(m, nfy, nfx, w, beta, batch, traj, c, g); });
}

void emu_nufft_interp(unsigned int grid, unsigned int block, long long m, int nfy, int nfx, int w,
                      float beta, int batch, const float* traj, const float* g, float* y) {
    fedrecon_emulate_1d(grid, block,
                        [&] { nufft_interp(m, nfy, nfx, w, beta, batch, traj, g, y); });
}

void emu_nufft_deapod_pad(unsigned int grid, unsigned int block, int ny, int nx, int nfy, int nfx,
                          int batch, const float* dy, const float* dx, const float* f, float* g) {
    fedrecon_emulate_1d(grid, block,
                        [&] { nufft_deapod_pad(ny, nx, nfy, nfx, batch, dy, dx, f, g); });
}

void emu_nufft_crop_deapod(unsigned int grid, unsigned int block, int ny, int nx, int nfy, int nfx,
                           int batch, const float* dy, const float* dx, const float* g, float* f) {
    fedrecon_emulate_1d(grid, block,
                        [&] { nufft_crop_deapod(ny, nx, nfy, nfx, batch, dy, dx, g, f); });
}

void emu_sense_roll_mask(unsigned int grid, unsigned int block, int ny, int nx, int batch, int sy,
                         int sx, float scale, int use_mask, int mask_at_src, const float* mask,
                         const float* src, float* dst) {
    fedrecon_emulate_1d(grid, block, [&] {
        sense_roll_mask(ny, nx, batch, sy, sx, scale, use_mask, mask_at_src, mask, src, dst);
    });
}

void emu_fft_stockham_pass(unsigned int grid, unsigned int block, int n, int radix, int ns,
                           long long n_inner, long long inner_stride, long long n_outer,
                           long long outer_stride, long long elem_stride, int inner_fastest,
                           int inverse, const float* tw, const float* src, float* dst) {
    fedrecon_emulate_1d(grid, block, [&] {
        fft_stockham_pass(n, radix, ns, n_inner, inner_stride, n_outer, outer_stride, elem_stride,
                          inner_fastest, inverse, tw, src, dst);
    });
}

void emu_fbp_filter_rows(unsigned int grid, unsigned int block, int n_angles, int n_det, int batch,
                         const float* pre, const float* g, const float* sino, float* out) {
    fedrecon_emulate_1d(grid, block,
                        [&] { fbp_filter_rows(n_angles, n_det, batch, pre, g, sino, out); });
}

void emu_fbp_backproject_pixel_driven(unsigned int grid, unsigned int block, int kind, int ny,
                                      int nx, int n_angles, int n_det, int batch, double h,
                                      double sod, double sdd, double det_spacing, float k0,
                                      int fbp_weight, const double* views, const float* view_w,
                                      const float* q, float* img) {
    fedrecon_emulate_1d(grid, block, [&] {
        fbp_backproject_pixel_driven(kind, ny, nx, n_angles, n_det, batch, h, sod, sdd,
                                     det_spacing, k0, fbp_weight, views, view_w, q, img);
    });
}

}  // extern "C"
