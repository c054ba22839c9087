#!/usr/bin/env python3
"""PyTorch peer of fedrecon's E2E-VarNet training step (`fedrecon device bench --what varnet`).

Same problem: 15 coils, 320 x 320, batch 1, 4x equispaced column mask with 8% centre lines;
E2E-VarNet (Sriram et al. 2020) layer for layer as fastMRI's `VarNet` (12 cascades, U-Nets with
18 channels and 4 pools, sensitivity U-Net with 8 channels and 4 pools, soft data consistency),
fft2c/ifft2c as fastMRI's centred orthonormal FFTs (torch.fft), MSE loss on the RSS image, Adam.
Prints `torch_ms: <median>` and a readable line. Random data: the step time does not depend on it.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def fft2c(x):  # [..., H, W, 2]
    x = torch.view_as_complex(x.contiguous())
    x = torch.fft.ifftshift(x, dim=(-2, -1))
    x = torch.fft.fftn(x, dim=(-2, -1), norm="ortho")
    return torch.view_as_real(torch.fft.fftshift(x, dim=(-2, -1)))


def ifft2c(x):
    x = torch.view_as_complex(x.contiguous())
    x = torch.fft.ifftshift(x, dim=(-2, -1))
    x = torch.fft.ifftn(x, dim=(-2, -1), norm="ortho")
    return torch.view_as_real(torch.fft.fftshift(x, dim=(-2, -1)))


def cmul(a, b):
    re = a[..., 0] * b[..., 0] - a[..., 1] * b[..., 1]
    im = a[..., 0] * b[..., 1] + a[..., 1] * b[..., 0]
    return torch.stack([re, im], -1)


def conj(a):
    return torch.stack([a[..., 0], -a[..., 1]], -1)


def rss(x, dim=1):
    return torch.sqrt((x ** 2).sum(-1).sum(dim))


class ConvBlock(torch.nn.Sequential):
    def __init__(self, i, o):
        super().__init__(
            torch.nn.Conv2d(i, o, 3, padding=1, bias=False), torch.nn.InstanceNorm2d(o),
            torch.nn.LeakyReLU(0.2),
            torch.nn.Conv2d(o, o, 3, padding=1, bias=False), torch.nn.InstanceNorm2d(o),
            torch.nn.LeakyReLU(0.2))


class Up(torch.nn.Sequential):
    def __init__(self, i, o):
        super().__init__(torch.nn.ConvTranspose2d(i, o, 2, stride=2, bias=False),
                         torch.nn.InstanceNorm2d(o), torch.nn.LeakyReLU(0.2))


class Unet(torch.nn.Module):
    """fastMRI's U-Net."""

    def __init__(self, cin, cout, chans, pools):
        super().__init__()
        self.down = torch.nn.ModuleList([ConvBlock(cin, chans)])
        ch = chans
        for _ in range(pools - 1):
            self.down.append(ConvBlock(ch, ch * 2))
            ch *= 2
        self.conv = ConvBlock(ch, ch * 2)
        self.up_t, self.up_c = torch.nn.ModuleList(), torch.nn.ModuleList()
        for _ in range(pools - 1):
            self.up_t.append(Up(ch * 2, ch))
            self.up_c.append(ConvBlock(ch * 2, ch))
            ch //= 2
        self.up_t.append(Up(ch * 2, ch))
        self.up_c.append(torch.nn.Sequential(ConvBlock(ch * 2, ch), torch.nn.Conv2d(ch, cout, 1)))

    def forward(self, x):
        stack = []
        for d in self.down:
            x = d(x)
            stack.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.conv(x)
        for t, c in zip(self.up_t, self.up_c):
            s = stack.pop()
            x = t(x)
            x = c(torch.cat([x, s], 1))
        return x


class NormUnet(torch.nn.Module):
    def __init__(self, chans, pools):
        super().__init__()
        self.unet = Unet(2, 2, chans, pools)
        self.mult = 2 ** pools

    def forward(self, x):  # [B, 1, H, W, 2]
        b, c, h, w, two = x.shape
        x = x.permute(0, 4, 1, 2, 3).reshape(b, 2 * c, h, w)
        xg = x.view(b, 2, -1)
        mean = xg.mean(2).view(b, 2, 1, 1)
        std = xg.std(2).view(b, 2, 1, 1)
        x = (x - mean) / std
        ph, pw = (-h) % self.mult, (-w) % self.mult
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        x = self.unet(x)
        x = x[..., ph // 2: ph // 2 + h, pw // 2: pw // 2 + w]
        x = x * std + mean
        return x.view(b, 2, c, h, w).permute(0, 2, 3, 4, 1).contiguous()


class SensitivityModel(torch.nn.Module):
    def __init__(self, chans, pools):
        super().__init__()
        self.norm_unet = NormUnet(chans, pools)

    def forward(self, k, mask, low):  # k [B, C, H, W, 2]
        b, c, h, w, _ = k.shape
        center = torch.zeros_like(mask)
        pad = (w - low + 1) // 2
        center[..., pad: pad + low, :] = 1
        images = ifft2c(k * center).view(b * c, 1, h, w, 2)
        s = self.norm_unet(images).view(b, c, h, w, 2)
        return s / rss(s).unsqueeze(1).unsqueeze(-1)


class Cascade(torch.nn.Module):
    def __init__(self, chans, pools):
        super().__init__()
        self.model = NormUnet(chans, pools)
        self.eta = torch.nn.Parameter(torch.ones(1))

    def forward(self, k, k0, mask, sens):
        reduced = cmul(ifft2c(k), conj(sens)).sum(1, keepdim=True)
        expanded = fft2c(cmul(self.model(reduced), sens))
        return k - torch.where(mask.bool(), k - k0, torch.zeros_like(k)) * self.eta - expanded


class VarNet(torch.nn.Module):
    def __init__(self, cascades=12, chans=18, pools=4, sens_chans=8, sens_pools=4):
        super().__init__()
        self.sens = SensitivityModel(sens_chans, sens_pools)
        self.cascades = torch.nn.ModuleList([Cascade(chans, pools) for _ in range(cascades)])

    def forward(self, k0, mask, low):
        sens = self.sens(k0, mask, low)
        k = k0.clone()
        for c in self.cascades:
            k = c(k, k0, mask, sens)
        return rss(ifft2c(k))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--size", type=int, default=320)
    p.add_argument("--coils", type=int, default=15)
    p.add_argument("--cascades", type=int, default=12)
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(0)
    n, c = a.size, a.coils
    model = VarNet(cascades=a.cascades).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    mask = torch.zeros(1, 1, 1, n, 1, device=dev)
    mask[..., ::4, :] = 1
    low = round(0.08 * n)
    mask[..., (n - low + 1) // 2:(n - low + 1) // 2 + low, :] = 1
    k0 = torch.randn(1, c, n, n, 2, device=dev) * mask
    target = torch.rand(1, n, n, device=dev)
    times = []
    for i in range(a.warmup + a.repeat):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        opt.zero_grad()
        loss = torch.mean((model(k0, mask, low) - target) ** 2)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= a.warmup:
            times.append((time.perf_counter() - t) * 1e3)
    t = statistics.median(times)
    print(f"torch_ms: {t:.3f}")
    print(f"pytorch {torch.__version__} E2E-VarNet step ({a.cascades} cascades, {c} coils, "
          f"{n}x{n}, batch 1) on {a.device}: {t:.1f} ms")


if __name__ == "__main__":
    main()
