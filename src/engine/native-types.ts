/**
 * The addon's typed surface: every function, class and value type that crosses the boundary. A leaf
 * module (it imports only other leaf type modules), so every other module may depend on it.
 */
import type { PhantomParams } from '../data/phantom-params';
import type { TensorData } from './tensor';

export type PredictionTypeName = 'epsilon' | 'sample' | 'v_prediction';

export interface CudaInfo {
  compiled: boolean;
  usable: boolean;
  deviceCount: number;
  deviceName: string;
  runtimeVersion: number;
  reason: string;
}

export interface EngineInfo {
  backends: string[];
  cuda: CudaInfo;
  gemm: 'openblas' | 'builtin';
  openblasAvailable: boolean;
  /** The instruction set of the direct 3x3 convolution kernel chosen for this CPU. */
  convKernel: 'avx512' | 'avx2' | 'baseline';
  threads: number;
  precision: 'fp32' | 'bf16';
}

export interface UNetForwardInput {
  sample: TensorData;
  timestep: TensorData;
  encoderHiddenStates: TensorData;
  encoderAttentionMask?: TensorData | null;
  /** keep nothing for a backward pass (sampling): less memory and copying; backward() then refuses */
  inference?: boolean;
}

export interface UNetInputGrads {
  sample: TensorData;
  encoderHiddenStates: TensorData;
}

/** Parameter access common to every engine model (UNet, TextEncoder, ImageEncoder, Vae). */
export interface NativeTrainable {
  paramInfo(): { name: string; shape: number[] }[];
  numParams(): number;
  getParam(name: string): TensorData;
  getGrad(name: string): TensorData;
  setParam(name: string, data: Float32Array): void;
  loadWeights(path: string): Record<string, string>;
  saveWeights(path: string): void;
  zeroGrad(): void;
}

export interface NativeUNet extends NativeTrainable, DeviceModel {
  configJson(): string;
  forward(input: UNetForwardInput): TensorData;
  backward(gradOutput: TensorData): UNetInputGrads;
  forwardAsync(input: UNetForwardInput): Promise<TensorData>;
  backwardAsync(gradOutput: TensorData): Promise<UNetInputGrads>;
  /** One guided sampling step in the engine (native/rl/sample_step.h); x stays on the UNet's device. */
  sampleStepAsync(input: SampleStepInput): Promise<SampleStepOutput>;
  /** One trained RL step in the engine (native/rl/policy_step.h); parameter gradients accumulate. */
  policyStepAsync(input: PolicyStepInput): Promise<PolicyStepOutput>;
  /**
   * One pretraining micro-batch in the engine (native/model/denoise_step.h): forward, mean squared
   * error against target, backward of lossScale * loss; parameter gradients accumulate. Resolves to
   * the unscaled loss and d(lossScale * loss)/d(encoderHiddenStates).
   */
  denoiseStepAsync(
    input: UNetForwardInput & { target: TensorData; lossScale?: number },
  ): Promise<{ loss: number; gradContext: TensorData }>;
  /** Freezes every weight and adds LoRA adapters (NAME.lora_A.weight, NAME.lora_B.weight) to each attention's to_q, to_k, to_v, to_out.0; scale = lora_alpha / rank */
  enableLora(o: { rank: number; scale?: number }): void;
  /** 0 without LoRA */
  loraRank(): number;
}

/** AutoencoderKL (forward only). Tensors NCHW; latents are raw (not multiplied by scaling_factor). */
export interface NativeVae extends NativeTrainable, DeviceModel {
  configJson(): string;
  decode(latents: TensorData): TensorData;
  decodeAsync(latents: TensorData): Promise<TensorData>;
  encode(images: TensorData): { mean: TensorData; logvar: TensorData };
  encodeAsync(images: TensorData): Promise<{ mean: TensorData; logvar: TensorData }>;
}

export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** true: AdamW (decoupled weight decay); false: Adam with L2 regularisation. */
  decoupled?: boolean;
}

export interface NativeOptimizer {
  step(): void;
  clipGradNorm(maxNorm: number): number;
  setLr(lr: number): void;
  steps(): number;
  saveState(path: string): void;
  loadState(path: string): void;
}

export interface SafetensorsContents {
  /** Every tensor as float32. */
  tensors: Record<string, TensorData>;
  /** F64, I64 and I32 tensors' values without rounding to float32. */
  exact: Record<string, Float64Array>;
  metadata: Record<string, string>;
}

/** diffusers' scheduler_config.json keys (the engine's DdimSchedule reads them as they are). */
export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  set_alpha_to_one: boolean;
  steps_offset: number;
  timestep_spacing: 'leading' | 'trailing' | 'linspace';
  prediction_type: PredictionTypeName;
  clip_sample: boolean;
  clip_sample_range: number;
}

/** The engine's DDIM scheduler for one sampling run (native/rl/schedule.h). */
export interface NativeDdimSchedule {
  readonly timesteps: Int32Array;
  readonly alphasCumprod: Float64Array;
  readonly betas: Float64Array;
  readonly finalAlphaCumprod: number;
  /** Inference step i (0 = noisiest): t, t_prev = t - T / steps, and their alpha-bars. */
  step(i: number): { t: number; prevT: number; alphaBarT: number; alphaBarPrev: number };
}

export interface StepTiming {
  fusedSeconds: number;
  unfusedSeconds?: number;
  copySeconds: number;
  bytesMoved: number;
}

export interface StepBenchOptions {
  batch: number;
  perSample: number;
  guidance: boolean;
  source: string;
  iters: number;
}

/** Every function and class the addon exports; the rest of src/ uses only this. */
export interface NativeAddon {
  info(): EngineInfo;
  setNumThreads(n: number): void;
  setGemmBackend(name: 'openblas' | 'builtin'): void;
  /** The device GEMMs' compute precision (the CPU backend computes in fp32 whatever it is). */
  setPrecision(precision: 'fp32' | 'bf16'): void;
  /** The CUDA allocator's figures (null without a usable GPU); resetPeak starts a new peak after reading. */
  deviceMemory(o?: {
    resetPeak?: boolean;
  }): { bytesInUse: number; peakBytesInUse: number; bytesCached: number; deviceMallocs: number } | null;
  /** The process group from torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. */
  distEnv(): { rank: number; worldSize: number; localRank: number; masterAddr: string; masterPort: number };
  readSafetensors(path: string): SafetensorsContents;
  writeSafetensors(path: string, tensors: Record<string, TensorData>, metadata?: Record<string, string>): void;
  UNet: new (configJson: string, seed: number) => NativeUNet;
  TextEncoder: new (configJson: string, seed: number) => NativeTextEncoder;
  ImageEncoder: new (configJson: string, seed: number) => NativeImageEncoder;
  Vae: new (configJson: string, seed: number) => NativeVae;
  Optimizer: new (model: NativeTrainable, options: AdamOptions) => NativeOptimizer;
  EngineTensor: {
    fromHost(data: Float32Array, shape: number[], device?: Device): EngineTensor;
    /** Row rows[k] of sources[k] (each [N, ...], one device) as row k: [K, ...], on that device. */
    gatherRows(sources: readonly EngineTensor[], rows: readonly number[]): EngineTensor;
  };
  /** shadow <- d * shadow + (1 - d) * live, d = min(decay, (1 + step) / (10 + step)) when step is given; returns d */
  emaUpdate(shadow: NativeTrainable, live: NativeTrainable, decay: number, step?: number): number;
  // Schedules and RL kernels
  DdimSchedule: new (config: Partial<SchedulerConfig>, numInferenceSteps: number) => NativeDdimSchedule;
  ddimStep(a: DdimStepInput, device: Device): DdimStepOutput;
  ddimStepBackward(a: DdimStepInput, gradLogProb: Float64Array, device: Device): DdimStepGrads;
  ppoLoss(a: PpoInput, device: Device): PpoOutput;
  randn(o: { seed: number; streamOffset: number; batch: number; perSample: number }): Float32Array;
  addNoise(o: {
    sample: Float32Array;
    noise: Float32Array;
    alphaBar: number | ArrayLike<number>;
    batch: number;
    perSample: number;
  }): Float32Array;
  mseLoss(o: { pred: Float32Array; target: Float32Array; scale?: number }): { loss: number; grad: Float32Array };
  // Synthetic data
  renderPhantom(p: PhantomParams): Uint8Array;
  // Image resampling (posture augmentation, resizing to a reward model's input)
  affineWarp(o: {
    images: Float32Array;
    batch: number;
    channels: number;
    height: number;
    width: number;
    outHeight: number;
    outWidth: number;
    params: Float32Array;
    /** a value for points outside the source, or 'edge': the nearest edge pixel's value */
    fill?: number | 'edge';
  }): Float32Array;
  // Evaluation numerics
  symmetricEigen(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array; sweeps: number };
  /** Benchmark-only functions (bench/step-bench.ts, bench/unet-flops.ts). */
  bench: {
    ddimStepCpu(o: StepBenchOptions): StepTiming;
    ddimStepCuda(o: StepBenchOptions): StepTiming;
    /** Seconds per forward of one stride-1 convolution layer, by the direct kernel or im2col + GEMM. */
    conv2dForward(o: {
      batch: number;
      cin: number;
      cout: number;
      size: number;
      k?: number;
      kernel: 'direct' | 'im2col';
      iters: number;
    }): number;
    /** Achieved fp32 FMA throughput with no memory traffic: the CPU's peak under load. */
    fmaPeak(o: { threads: number; seconds: number }): {
      gflops: number;
      threads: number;
      isa: string;
      flopsPerInstr: number;
    };
  };
}

export type Device = 'cpu' | 'cuda';

/** A model whose passes can run on a device (UNet, VAE, text encoder). */
export interface DeviceModel {
  /** Moves the weights and gradients; later passes run there. */
  toDevice(device: Device): void;
  device(): Device;
}

export interface DdimStepInput {
  batch: number;
  perSample: number;
  sample: Float32Array;
  /** eps (or x0 / v by predictionType); with guidance, the conditional half. */
  modelOutput: Float32Array;
  /** With classifier-free guidance: the unconditional half. */
  modelOutputUncond?: Float32Array;
  guidanceScale?: number;
  /** The step's eta (std = eta * sigma_t); required: generation and RL each own their default. */
  eta: number;
  /**
   * Either the schedule and the inference step index (one for all samples or one per sample): the
   * schedule supplies the alpha-bars, prediction type and clipping ...
   */
  schedule?: NativeDdimSchedule;
  stepIndex?: number | ArrayLike<number>;
  /** ... or, the raw kernel interface (`debug step`, kernel tests), all of these given explicitly. */
  alphaBarT?: number | ArrayLike<number>;
  alphaBarPrev?: number | ArrayLike<number>;
  predictionType?: PredictionTypeName;
  clipSample?: boolean;
  clipSampleRange?: number;
  useClippedModelOutput?: boolean;
  /** Given x_prev (re-scoring a stored trajectory) ... */
  prevSample?: Float32Array;
  /** ... or given standard-normal noise ... */
  noise?: Float32Array;
  /** ... or Philox noise: sample b draws stream streamOffset + b of this seed. */
  seed?: number;
  streamOffset?: number;
}

/**
 * A handle to an engine tensor on the CPU or a device: values stay where a model runs between calls.
 * JavaScript reads them only through toHost(); dispose() frees them at once (else the GC does).
 */
export interface EngineTensor {
  toHost(): Float32Array;
  shape(): number[];
  device(): Device;
  dispose(): void;
}

/** One guided DDIM sampling step in the engine (native/rl/sample_step.h). */
export interface SampleStepInput {
  /** x_t [B, C, H, W] */
  sample: EngineTensor;
  /** one per sample */
  timestep: number | ArrayLike<number>;
  /** [rows, L, D], [rows, L]: rows = 2B, unconditional half first, when guided */
  encoderHiddenStates: TensorData;
  encoderAttentionMask?: TensorData | null;
  schedule: NativeDdimSchedule;
  stepIndex: number | ArrayLike<number>;
  eta: number;
  guidanceScale: number;
  seed: number;
  streamOffset: number;
  /** also return the step's mean (the step without noise) */
  keepMean?: boolean;
}

export interface SampleStepOutput {
  /** x_prev, on the UNet's device */
  prevSample: EngineTensor;
  logProb: Float64Array;
  mean?: EngineTensor;
}

/**
 * One trained RL step: guided UNet forward at x_t, the fused step at the stored x_prev, PPO, the
 * optional KL term against the anchor's step means, and the backward, all on the UNet's device.
 * The latents are handles: gathered from the stored trajectory, which stays on the UNet's device.
 */
export interface PolicyStepInput {
  /** x_t [B, C, H, W] */
  sample: EngineTensor;
  /** the stored x_prev [B, C, H, W] */
  prevSample: EngineTensor;
  /** the anchor's step means [B, C, H, W] (the KL trust region); needed when klWeight > 0 */
  anchorMean?: EngineTensor;
  /** one per sample */
  timestep: ArrayLike<number>;
  /** [rows, L, D] and [rows, L]: rows = 2B, unconditional half first, when guided */
  encoderHiddenStates: TensorData;
  encoderAttentionMask?: TensorData | null;
  schedule: NativeDdimSchedule;
  stepIndex: ArrayLike<number>;
  eta: number;
  guidanceScale: number;
  oldLogProb: Float64Array;
  advantages: Float64Array;
  clipRange: number;
  advClipMax: number;
  /** this step's weight in the loss (1 / trained steps) */
  lossScale: number;
  klWeight: number;
  /** how much of d/d(context) comes back: -1 (default) all; K > 0 the last K tokens of the conditional rows (the ACE tokens); 0 none */
  contextGradTokens?: number;
}

export interface PolicyStepOutput {
  loss: number;
  approxKl: number;
  clipfrac: number;
  /** mean KL(policy || anchor) per element (0 without anchorMean) */
  klAnchor: number;
  logProb: Float64Array;
  /** d(loss)/d(encoderHiddenStates): [rows, L, D], or [B, K, D] with contextGradTokens K; absent with 0 */
  gradContext?: TensorData;
}

export interface DdimStepOutput {
  prevSample: Float32Array;
  logProb: Float64Array;
}

export interface DdimStepGrads {
  gradModelOutput: Float32Array;
  gradModelOutputUncond?: Float32Array;
}

export interface PpoInput {
  logProb: Float64Array;
  oldLogProb: Float64Array;
  advantages: Float64Array;
  clipRange: number;
  advClipMax: number;
}

export interface PpoOutput {
  loss: number;
  approxKl: number;
  clipfrac: number;
  gradLogProb: Float64Array;
}

export interface NativeTextEncoder extends NativeTrainable, DeviceModel {
  configJson(): string;
  forward(input: { ids: Int32Array; shape: number[]; mask: Float32Array }): TensorData;
  backward(gradOutput: TensorData): void;
}

export interface NativeImageEncoder extends NativeTrainable {
  configJson(): string;
  forward(input: TensorData): TensorData;
  /** accumulates parameter gradients; returns d/dinput */
  backward(gradOutput: TensorData): TensorData;
}
