// The names the model family is chosen by, as values (option declarations, the command line and
// checkpoint checks list them) and as types. No addon: the command line reads these at start-up.

export const ARCH_NAMES = ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152'] as const;
export type Arch = (typeof ARCH_NAMES)[number];

/** 'imagenet': 7x7/2 conv + 3x3/2 max-pool. 'cifar': 3x3/1 conv, no max-pool. */
export const STEM_KINDS = ['imagenet', 'cifar'] as const;
export type StemKind = (typeof STEM_KINDS)[number];

/** 'torch': symmetric padding (torchvision). 'same': MindSpore's pad_mode='same' (asymmetric). */
export const PADDING_MODES = ['torch', 'same'] as const;
export type PaddingMode = (typeof PADDING_MODES)[number];

/** 'torchvision': Kaiming normal (fan_out). 'tutorial': Normal(0, 0.02), down-sample gamma Normal(1, 0.02). */
export const INIT_KINDS = ['torchvision', 'tutorial'] as const;
export type InitKind = (typeof INIT_KINDS)[number];
