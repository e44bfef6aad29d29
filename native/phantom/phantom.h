// Procedural chest radiograph phantoms for the synthetic MIMIC-layout dataset. The anatomy lives
// in a canonical body frame (u right = image right = patient's left in a PA view, v down, both in
// [-1, 1]); a posture affine maps it into the image. Findings are drawn from the spec so that image
// content follows the study's labels. Output: 8-bit grayscale, histogram-equalised like MIMIC-CXR-JPG.
#pragma once
#include <cstdint>
#include <vector>

namespace cxrl {

enum class PhantomView { kPA, kAP, kLateral };

struct PhantomPose {
  // canonical -> image (normalised coordinates): p_img = S * R(rotation) * p + t
  double scale_x = 1, scale_y = 1, shift_x = 0, shift_y = 0, rotation = 0;
};

enum PhantomDevice : uint32_t { kDeviceEtTube = 1, kDeviceCentralLine = 2, kDevicePacemaker = 4 };

struct PhantomSpec {
  int width = 256, height = 256;
  uint64_t seed = 0;  // texture, noise and finding placement
  PhantomView view = PhantomView::kPA;
  PhantomPose pose;
  double heart_ratio = 0.45;        // cardiothoracic ratio in the canonical frame
  double mediastinum_width = 0.12;  // half-width of the upper mediastinum
  double effusion[2] = {0, 0};      // fluid height (fraction of lung height) right/left lung
  double pneumothorax[2] = {0, 0};  // collapsed rim width right/left
  double consolidation = 0;         // patchy opacity severity (0..1)
  int consolidation_side = 0;       // 0 right, 1 left, 2 both
  double edema = 0;                 // bilateral perihilar haze severity
  double atelectasis[2] = {0, 0};   // band opacity + volume loss right/left
  double nodule = 0;                // lung lesion radius (0: none)
  double pleural_thickening = 0;    // pleural other
  uint32_t devices = 0;             // PhantomDevice bits
  int fractured_rib = -1;           // rib index (0..8) with a discontinuity, or -1
  int fractured_side = 0;
};

// Renders into out (width * height bytes, row-major).
void render_phantom(const PhantomSpec& spec, uint8_t* out);

}  // namespace cxrl
