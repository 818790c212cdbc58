export { ResNet, BasicBlock, Bottleneck, ResidualBlock, makeLayer, samePadding, resnet18, resnet34, resnet50, resnet101, resnet152 } from './resnet';
export type { ResNetOptions, ResNetFactoryOptions, PaddingMode, StemKind, InitKind, BlockType } from './resnet';
