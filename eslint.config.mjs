// npm run lint: the architecture's rules (what may call the native addon) and typescript-eslint's
// recommended ones. Import circles are checked by madge in the same script (package.json).
import tseslint from 'typescript-eslint';

/** The binding layer: one TypeScript file per native concept, the only ones that load the addon
 * (src/native.ts) or reach into a tensor's native handle. Everything else goes through them. */
const BINDING_LAYER = [
  'src/native.ts',
  'src/tensor.ts',
  'src/autograd.ts',
  'src/device.ts',
  'src/cuda-graph.ts',
  'src/doctor.ts',
  'src/foreach.ts',
  'src/nn/functional.ts',
  'src/nn/layers.ts',
  'src/distributed/process-group.ts',
  'src/distributed/ddp.ts',
  'src/distributed/store.ts',
];

/** Files that call the addon directly for a reason of their own: the step benchmark counts the
 * calls into the addon during a step by wrapping its functions. The list may only shrink. */
const NOT_YET_BEHIND_THE_LAYER = ['src/bench/case.ts'];

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'build-*/**', 'node_modules/**', '.device/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      // a leading underscore says "deliberately unused" (a destructured-away field, a parameter)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: [...BINDING_LAYER, ...NOT_YET_BEHIND_THE_LAYER],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)native$', message: 'Only the binding layer (BINDING_LAYER in eslint.config.mjs) loads the addon: use tensor.ts, nn/functional.ts or the module for that concept.' }] },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[property.name='handle']", message: "A tensor's native handle belongs to the binding layer (BINDING_LAYER in eslint.config.mjs): use the Tensor's methods." },
      ],
    },
  },
  // the addon's path is only known at run time
  { files: ['src/native.ts'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  // tests poke at JSON answers and CommonJS scripts as they come
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-require-imports': 'off' } },
);
