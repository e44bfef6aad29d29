/** The weights rule both `unet check` and `vae check` follow. */
import type { NativeTrainable } from '../engine/native';
import { UserError } from '../util/errors';

/**
 * Loads --weights with `load`, or writes the model's seeded random init to --save-weights so that
 * an independent reference can read the same weights; with neither, the check could not be
 * repeated elsewhere, so it is refused.
 */
export function checkWeights(
  command: string,
  model: NativeTrainable,
  a: { weights?: string; saveWeights?: string },
  load: (file: string) => void,
): void {
  if (a.weights) load(a.weights);
  else if (a.saveWeights) model.saveWeights(a.saveWeights);
  else
    throw new UserError(
      `${command}: without --weights, give --save-weights FILE so the random init can be checked independently`,
    );
}
