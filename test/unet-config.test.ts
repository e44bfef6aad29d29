/** Config keys that change diffusers' output are implemented or refused by name, never ignored. */
import { createUNet } from '../src/engine/unet';
import { readUNetConfig } from '../src/engine/unet-config';

const base = () => ({ ...readUNetConfig('tiny'), sample_size: 16 });

test.each([
  ['timestep_post_act', 'silu'],
  ['time_embedding_act_fn', 'silu'],
  ['time_embedding_dim', 64],
  ['class_embeddings_concat', true],
  ['attention_type', 'gated'],
  ['dropout', 0.1],
  ['resnet_out_scale_factor', 2],
  ['resnet_skip_time_act', true],
  ['reverse_transformer_layers_per_block', [[1]]],
])('%s = %p is refused by name', (key, value) => {
  expect(() => createUNet({ ...base(), [key]: value } as never, 0, 'unet.json')).toThrow(
    new RegExp(`unet.json: .*"${key}" = .* is not supported`),
  );
});

test('their default values (null, false, "default") are accepted', () => {
  expect(() =>
    createUNet({
      ...base(),
      timestep_post_act: null,
      time_embedding_act_fn: null,
      class_embeddings_concat: false,
      attention_type: 'default',
      dropout: 0.0,
      resnet_out_scale_factor: 1.0,
      mid_block_only_cross_attention: null,
      upcast_attention: true, // float32 attention is what the engine always computes
      _diffusers_version: '0.20.0',
    } as never),
  ).not.toThrow();
});

test('a key the engine does not know is refused by name, not ignored', () => {
  expect(() => createUNet({ ...base(), attention_dropout: 0.1 } as never, 0, 'unet.json')).toThrow(
    /unet.json: .*"attention_dropout" is not a UNet2DConditionModel config key this engine knows/,
  );
});
