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
    } as never),
  ).not.toThrow();
});
