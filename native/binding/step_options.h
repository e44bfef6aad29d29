// The DDIM step's alpha-bars and prediction settings as JavaScript passes them: from {schedule,
// stepIndex} (what the product uses), or given explicitly (alphaBarT, alphaBarPrev,
// predictionType, clipSample, clipSampleRange: the raw kernel interface of `debug step` and the
// kernel tests). Read by ddimStep, ddimStepBackward and the UNet's policyStepAsync.
#pragma once
#include "binding/options.h"
#include "rl/ddim_step.h"

namespace cxrl {

// Fills a.alpha_bar_t, a.alpha_bar_prev, prediction and clipping for a.batch samples.
void step_schedule(const Options& o, DdimStepArgs& a);

}  // namespace cxrl
