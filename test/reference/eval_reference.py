"""Independent float64 references for the evaluation numerics (numpy, scipy, scikit-image,
scikit-learn): FID in the scipy.linalg.sqrtm form, unbiased KID with the cubic polynomial kernel,
SSIM (skimage), MS-SSIM written here from Wang et al. 2003 on scipy's Gaussian filter, AUROC
(sklearn). Reads a JSON request from the file named by its argument, writes a JSON answer on stdout."""
import json
import sys

import numpy as np
import scipy.linalg
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity
from sklearn.metrics import roc_auc_score


def fid(f1, f2):
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1 @ s2, disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid_full(f1, f2):
    d = f1.shape[1]
    kxx = (f1 @ f1.T / d + 1) ** 3
    kyy = (f2 @ f2.T / d + 1) ** 3
    kxy = (f1 @ f2.T / d + 1) ** 3
    m = f1.shape[0]
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def ms_ssim(a, b):
    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    scales, s = 0, min(a.shape)
    while scales < 5 and s >= 11:
        scales, s = scales + 1, s // 2
    w = weights[:scales] / weights[:scales].sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = 1.0
    for j in range(scales):
        f = lambda x: gaussian_filter(x, 1.5, mode="reflect", truncate=3.5)
        ux, uy = f(a), f(b)
        vx, vy, vxy = f(a * a) - ux * ux, f(b * b) - uy * uy, f(a * b) - ux * uy
        cs_map = (2 * vxy + c2) / (vx + vy + c2)
        l_map = (2 * ux * uy + c1) / (ux * ux + uy * uy + c1)
        crop = (slice(5, -5), slice(5, -5))
        value = (l_map * cs_map)[crop].mean() if j == scales - 1 else cs_map[crop].mean()
        out *= max(value, 0.0) ** w[j]
        h2, w2 = a.shape[0] // 2, a.shape[1] // 2
        a = a[: 2 * h2, : 2 * w2].reshape(h2, 2, w2, 2).mean(axis=(1, 3))
        b = b[: 2 * h2, : 2 * w2].reshape(h2, 2, w2, 2).mean(axis=(1, 3))
    return float(out)


def main():
    with open(sys.argv[1]) as f:
        req = json.load(f)
    out = {}
    if "features" in req:
        f1 = np.array(req["features"]["a"], dtype=np.float64).reshape(req["features"]["n1"], -1)
        f2 = np.array(req["features"]["b"], dtype=np.float64).reshape(req["features"]["n2"], -1)
        out["fid"] = fid(f1, f2)
        out["kid"] = kid_full(f1, f2)
    if "images" in req:
        h, w = req["images"]["h"], req["images"]["w"]
        a = np.array(req["images"]["a"], dtype=np.float64).reshape(h, w)
        b = np.array(req["images"]["b"], dtype=np.float64).reshape(h, w)
        out["ssim"] = float(structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255))
        out["msssim"] = ms_ssim(a, b)
    if "auroc" in req:
        out["auroc"] = float(roc_auc_score(req["auroc"]["labels"], req["auroc"]["scores"]))
    json.dump(out, sys.stdout)


main()
