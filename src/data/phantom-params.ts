/** The engine's phantom renderer's parameters (native/phantom): a leaf module of types. */
export interface Pose {
  /** canonical -> image, in normalised image coordinates: p_img = S R(rotation) p + t */
  scaleX: number;
  scaleY: number;
  shiftX: number;
  shiftY: number;
  rotation: number;
}

export interface PhantomParams {
  width: number;
  height: number;
  seed: number;
  view: 'PA' | 'AP' | 'LATERAL';
  pose: Pose;
  heartRatio: number;
  mediastinumWidth: number;
  effusion: [number, number];
  pneumothorax: [number, number];
  atelectasis: [number, number];
  consolidation: number;
  consolidationSide: number;
  edema: number;
  nodule: number;
  pleuralThickening: number;
  devices: number;
  fracturedRib: number;
  fracturedSide: number;
}
