export { Module } from './module';
export { Conv2d, BatchNorm2d, Linear, ReLU, MaxPool2d, AdaptiveAvgPool2d, Flatten, Sequential } from './layers';
export type { Conv2dOptions, BatchNorm2dOptions, LinearOptions } from './layers';
export * as functional from './functional';
