#include "phantom/phantom.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "core/philox.h"

namespace cxrl {
namespace {

constexpr double kPi = 3.14159265358979323846;

double smoothstep(double e0, double e1, double x) {
  const double t = std::clamp((x - e0) / (e1 - e0), 0.0, 1.0);
  return t * t * (3 - 2 * t);
}

inline double ipow(double x, int p) {
  double r = x;
  for (int i = 1; i < p; ++i) r *= x;
  return r;
}

// Soft inside-test of a super-ellipse with integer exponent p: ~1 inside, ~0 outside, blurred edge.
double superellipse(double u, double v, double cu, double cv, double au, double av, int p, double edge) {
  const double r = ipow(std::fabs((u - cu) / au), p) + ipow(std::fabs((v - cv) / av), p);
  return 1.0 - smoothstep(1.0 - edge, 1.0 + edge, r);
}

double gauss2(double u, double v, double cu, double cv, double s) {
  const double du = u - cu, dv = v - cv;
  return std::exp(-(du * du + dv * dv) / (2 * s * s));
}

// Thin bright band around a curve given as distance d to it.
double band(double d, double half_width) { return 1.0 - smoothstep(half_width * 0.6, half_width, std::fabs(d)); }

// Smooth value noise: a Philox-filled lattice (computed once per image), bilinear with smoothstep
// weights. Coordinates wrap around the lattice.
struct ValueNoise {
  static constexpr int kSize = 128;
  std::vector<float> grid;
  ValueNoise(uint64_t seed, uint64_t stream) : grid(kSize * kSize) {
    for (int g = 0; g < kSize * kSize / 4; ++g) philox_normal4(seed, stream, (uint64_t)g, &grid[4 * g]);
  }
  double lattice(int64_t i, int64_t j) const { return grid[(j & (kSize - 1)) * kSize + (i & (kSize - 1))]; }
  double at(double x, double y) const {
    const double fx = std::floor(x), fy = std::floor(y);
    const int64_t i = (int64_t)fx + 4096, j = (int64_t)fy + 4096;
    const double tx = x - fx, ty = y - fy;
    const double sx = tx * tx * (3 - 2 * tx), sy = ty * ty * (3 - 2 * ty);
    const double a = lattice(i, j), b = lattice(i + 1, j), c = lattice(i, j + 1), d = lattice(i + 1, j + 1);
    return (a * (1 - sx) + b * sx) * (1 - sy) + (c * (1 - sx) + d * sx) * sy;
  }
};

struct Anatomy {
  const PhantomSpec& s;
  ValueNoise texture, blobs;
  double dome[2];  // diaphragm dome apex level per side (volume loss raises it)
  double heart_cu, heart_a;
  double blob_u[3], blob_v[3];

  explicit Anatomy(const PhantomSpec& spec) : s(spec), texture(spec.seed, 11), blobs(spec.seed, 12) {
    const double ap_mag = s.view == PhantomView::kAP ? 1.08 : 1.0;  // AP magnifies the heart
    // Calibrated so that the CTR measured on the image (outer lung edges, as src/data/measure.ts
    // does) equals heart_ratio on a PA view; AP views magnify the heart by ap_mag.
    heart_a = s.heart_ratio * 0.837 * ap_mag;
    heart_cu = 0.06;
    dome[0] = 0.52 - 0.10 * s.atelectasis[0];
    dome[1] = 0.58 - 0.10 * s.atelectasis[1];
    for (int k = 0; k < 3; ++k) {
      blob_u[k] = 0.25 + 0.2 * uint_to_unit(philox4x32_10({{(uint32_t)k, 7, 0, 0}}, (uint32_t)s.seed, 3).x[0]);
      blob_v[k] = -0.25 + 0.6 * uint_to_unit(philox4x32_10({{(uint32_t)k, 8, 0, 0}}, (uint32_t)s.seed, 3).x[1]);
    }
  }

  // Lower lung boundary (diaphragm) for side 0 (right lung, u < 0) / 1 (left lung).
  double diaphragm(int side, double u) const {
    const double c = side ? 0.42 : -0.42;
    const double x = (u - c) / 0.32;
    return dome[side] + 0.16 * x * x;
  }

  // Lung membership (soft) for a side.
  double lung(int side, double u, double v) const {
    const double c = side ? 0.43 : -0.43;
    if (std::fabs(u - c) > 0.31 || std::fabs(v + 0.02) > 0.7) return 0.0;  // outside the bounding box
    const double body = superellipse(u, v, c, -0.02, 0.29, 0.66, 3, 0.04);
    const double below_dome = 1.0 - smoothstep(-0.015, 0.015, v - diaphragm(side, u));
    double l = body * below_dome;
    l *= 1.0 - superellipse(u, v, heart_cu, 0.33, heart_a, 0.27, 2, 0.05);  // the heart shadow hides the lung behind it
    return l;
  }

  // Attenuation at canonical point (u, v) of a frontal view.
  double frontal(double u, double v) const {
    if (std::fabs(u) > 0.97 || v > 1.4) return 0.0;                          // air outside the body
    double soft = 0.55 * superellipse(u, v, 0.0, 0.12, 0.93, 1.2, 4, 0.03);  // torso
    soft += 0.5 * (std::fabs(u) < 0.2 && v < -0.6 ? 1.0 - smoothstep(0.16, 0.2, std::fabs(u)) : 0.0);  // neck
    soft += 0.25 * superellipse(u, v, 0.0, 1.15, 0.9, 0.55, 2, 0.1);  // abdomen below the domes

    double lung_air = 0, markings = 0;
    for (int side = 0; side < 2; ++side) {
      double l = lung(side, u, v);
      if (l <= 0) continue;
      const double sgn = side ? 1.0 : -1.0;
      // Pneumothorax: a rim along the apex and lateral edge with no lung markings.
      double rim = 0;
      if (s.pneumothorax[side] > 0) {
        const double inner =
            superellipse(u, v, sgn * 0.43 - sgn * s.pneumothorax[side] * 0.5, 0.05 + s.pneumothorax[side] * 0.5,
                         0.29 - s.pneumothorax[side] * 0.5, 0.66 - s.pneumothorax[side], 3, 0.02);
        rim = l * (1.0 - inner);
        markings += 0.35 * l * band(inner - 0.5, 0.08);  // visceral pleural line
      }
      // The pneumothorax space is air without lung tissue: hyperlucent as well as free of markings.
      lung_air += 0.42 * l + 0.12 * rim;
      const double hilum = gauss2(u, v, sgn * 0.2, 0.0, 0.28);
      const double tex = texture.at(u * 9, v * 9) * 0.45 + texture.at(u * 19 + 7, v * 19) * 0.3 +
                         texture.at(u * 41 + 3, v * 41) * 0.15;
      markings += (l - rim) * (0.05 + 0.12 * hilum) * (1.0 + 0.8 * tex);
      // Effusion: dependent fluid with a meniscus rising laterally; blunts the costophrenic angle.
      if (s.effusion[side] > 0) {
        const double level =
            diaphragm(side, u) - s.effusion[side] * 1.2 - 0.18 * s.effusion[side] * std::fabs(u - sgn * 0.15) / 0.5;
        markings += 0.5 * l * smoothstep(level - 0.02, level + 0.02, v);
      }
      // Atelectasis: plate-like band at the base.
      if (s.atelectasis[side] > 0) {
        const double d = v - (dome[side] - 0.18) - 0.15 * (u - sgn * 0.4);
        markings += 0.35 * s.atelectasis[side] * l * band(d, 0.03);
      }
      // Consolidation / opacity: patchy blobs.
      if (s.consolidation > 0 && (s.consolidation_side == side || s.consolidation_side == 2)) {
        double patch = 0;
        for (int k = 0; k < 3; ++k) patch += gauss2(u, v, sgn * blob_u[k], blob_v[k], 0.09);
        const double mottling = 0.6 + 0.4 * blobs.at(u * 20, v * 20);
        markings += 0.45 * s.consolidation * l * std::min(1.0, patch) * mottling;
      }
      if (s.edema > 0) markings += 0.3 * s.edema * l * gauss2(u, v, sgn * 0.18, 0.05, 0.22) * (0.8 + 0.2 * tex);
      if (s.nodule > 0 && side == 0)
        markings += 0.45 * l * (1.0 - smoothstep(s.nodule * 0.8, s.nodule, std::hypot(u + 0.45, v + 0.1)));
      if (s.pleural_thickening > 0) {
        const double outer = superellipse(u, v, sgn * 0.43, -0.02, 0.29, 0.66, 3, 0.0);
        markings += 0.3 * s.pleural_thickening * band(outer - 0.06, 0.06) * (v > -0.2 ? 1.0 : 0.0);
      }
    }

    // Mediastinum, heart, spine, trachea.
    double medi = 0.25 * (1.0 - smoothstep(s.mediastinum_width - 0.02, s.mediastinum_width + 0.02, std::fabs(u))) *
                  (1.0 - smoothstep(0.15, 0.25, v)) * (v > -0.85 ? 1.0 : 0.0);
    const double heart = 0.45 * superellipse(u, v, heart_cu, 0.33, heart_a, 0.27, 2, 0.05);
    const double spine = std::fabs(u) < 0.08
                             ? 0.22 * (1.0 - smoothstep(0.06, 0.08, std::fabs(u))) * (0.85 + 0.15 * std::cos(v * 40))
                             : 0.0;
    const double trachea = -0.2 * (1.0 - smoothstep(0.03, 0.04, std::fabs(u))) * (v < -0.3 ? 1.0 : 0.0);

    // Bones: clavicles and posterior ribs.
    double bone = 0;
    for (int side = 0; side < 2; ++side) {
      const double sgn = side ? 1.0 : -1.0;
      const double x = sgn * u;
      if (x > 0.08 && x < 0.68) {
        const double d = v - (-0.66 - 0.12 * (x - 0.08));
        if (std::fabs(d) < 0.03) bone += 0.3 * band(d, 0.03);  // clavicle
      }
      if (x < 0.08 || x > 0.74) continue;
      const double rib_shape = 0.5 * (x - 0.08) - 0.45 * (x - 0.08) * (x - 0.08);
      for (int k = 0; k < 9; ++k) {
        const double arc = v - (-0.62 + 0.13 * k + rib_shape);
        if (std::fabs(arc) >= 0.022) continue;
        double rib = 0.16 * band(arc, 0.022);
        if (k == s.fractured_rib && side == s.fractured_side && std::fabs(x - 0.45) < 0.025) rib = 0;  // fracture gap
        bone += rib * superellipse(u, v, 0.0, 0.0, 0.8, 0.85, 3, 0.05);
      }
    }

    // Devices (very dense, thin).
    double device = 0;
    if (s.devices & kDeviceEtTube)
      device += 0.6 * (band(u - 0.012, 0.006) + band(u + 0.012, 0.006)) * (v > -1.0 && v < -0.32 ? 1.0 : 0.0);
    if (s.devices & kDeviceCentralLine) {
      const double t = std::clamp((v + 0.75) / 0.6, 0.0, 1.0);
      device += 0.6 * band(u - (-0.5 + 0.45 * std::sqrt(t)), 0.007) * (v > -0.75 && v < -0.15 ? 1.0 : 0.0);
    }
    if (s.devices & kDevicePacemaker) {
      device += 1.2 * superellipse(u, v, 0.55, -0.52, 0.07, 0.05, 6, 0.05);
      const double t = std::clamp((v + 0.52) / 0.8, 0.0, 1.0);
      device += 0.7 * band(u - (0.55 - 0.5 * t + 0.1 * std::sin(t * kPi)), 0.006) * (v > -0.52 && v < 0.28 ? 1.0 : 0.0);
    }

    return std::max(0.0, soft - lung_air + markings + medi + heart + spine + trachea + bone + device);
  }

  double lateral(double u, double v) const {
    // Side view: body profile, lungs as one air region, heart anteriorly (image left), spine posteriorly.
    double soft = 0.55 * superellipse(u, v, 0.0, 0.12, 0.75, 1.2, 3, 0.03);
    const double air =
        0.4 * superellipse(u, v, 0.05, -0.05, 0.5, 0.62, 3, 0.05) * (1.0 - smoothstep(-0.02, 0.02, v - 0.55 - 0.1 * u));
    const double heart = 0.45 * superellipse(u, v, -0.22, 0.3, s.heart_ratio * 0.7, 0.28, 2, 0.06);
    const double spine = 0.35 * (1.0 - smoothstep(0.08, 0.1, std::fabs(u - 0.52))) * (0.8 + 0.2 * std::cos(v * 40));
    double fluid = 0;
    const double eff = std::max(s.effusion[0], s.effusion[1]);
    if (eff > 0)
      fluid =
          0.4 * superellipse(u, v, 0.05, -0.05, 0.5, 0.62, 3, 0.05) * smoothstep(0.5 - eff - 0.02, 0.5 - eff + 0.02, v);
    const double tex = 0.04 * texture.at(u * 14, v * 14) * superellipse(u, v, 0.05, -0.05, 0.5, 0.62, 3, 0.05);
    return std::max(0.0, soft - air + heart + spine + fluid + tex);
  }
};

}  // namespace

void render_phantom(const PhantomSpec& s, uint8_t* out) {
  const Anatomy anatomy(s);
  const int W = s.width, H = s.height;
  std::vector<float> intensity((size_t)W * H);
  const double c = std::cos(s.pose.rotation), sn = std::sin(s.pose.rotation);
  parallel_for(H, 8, [&](int64_t y0, int64_t y1) {
    for (int64_t y = y0; y < y1; ++y) {
      Philox4 mottle{};
      for (int x = 0; x < W; ++x) {
        // Quantum-like mottle: one Philox block gives the uniforms of 4 neighbouring pixels.
        if ((x & 3) == 0)
          mottle =
              philox4x32_10({{(uint32_t)(x >> 2), (uint32_t)y, 99, 0}}, (uint32_t)s.seed, (uint32_t)(s.seed >> 32));
        // image -> canonical: p = R^-1 S^-1 (q - t)
        const double qx = (2.0 * (x + 0.5) / W - 1.0 - s.pose.shift_x) / s.pose.scale_x;
        const double qy = (2.0 * (y + 0.5) / H - 1.0 - s.pose.shift_y) / s.pose.scale_y;
        const double u = c * qx + sn * qy, v = -sn * qx + c * qy;
        const double a = s.view == PhantomView::kLateral ? anatomy.lateral(u, v) : anatomy.frontal(u, v);
        const double noise = 0.014 * (uint_to_unit(mottle.x[x & 3]) - 0.5);
        intensity[(size_t)y * W + x] = (float)(1.0 - std::exp(-2.2 * a) + noise);
      }
    }
  });
  // Histogram equalisation over 4096 bins, as the MIMIC-CXR-JPG conversion did.
  constexpr int kBins = 4096;
  float lo = intensity[0], hi = intensity[0];
  for (float v : intensity) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const float span = std::max(hi - lo, 1e-6f);
  std::vector<uint32_t> hist(kBins, 0);
  auto bin = [&](float v) { return std::min(kBins - 1, (int)((v - lo) / span * (kBins - 1))); };
  for (float v : intensity) ++hist[bin(v)];
  std::vector<uint8_t> map(kBins);
  uint64_t cum = 0;
  const uint64_t total = intensity.size();
  for (int b = 0; b < kBins; ++b) {
    cum += hist[b];
    map[b] = (uint8_t)std::min<uint64_t>(255, (cum * 256) / (total + 1));
  }
  for (size_t i = 0; i < intensity.size(); ++i) out[i] = map[bin(intensity[i])];
}

}  // namespace cxrl
