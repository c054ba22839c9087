// The CUDA kernels of kernels/ compiled as host C++ (see cuda_host_shim.h), with C launchers
// that take the grid and block size exactly like a device launch.
#include "cuda_host_shim.h"

thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

#include "joseph.cu"
#include "sense.cu"
#include "nufft.cu"

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
                        float* sino) {
    fedrecon_emulate_1d(grid, block, [&] {
        joseph_forward(ny, nx, n_rays, batch, ray_f, ray_i, img, sino);
    });
}

void emu_joseph_backward(unsigned int grid, unsigned int block, int ny, int nx, long long n_rays,
                         int batch, const float* ray_f, const int* ray_i, const float* sino,
                         float* img) {
    fedrecon_emulate_1d(grid, block, [&] {
        joseph_backward(ny, nx, n_rays, batch, ray_f, ray_i, sino, img);
    });
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

}  // extern "C"
