export { SummaryWriter } from './summary-writer';
export type { SummaryWriterOptions, HparamValue, SessionStatus } from './summary-writer';
export { readRun, readEventFile, eventFiles } from './event-reader';
export type { RunEvents, ScalarPoint } from './event-reader';
export { TensorBoardCallback, hparamsOf, configMarkdown } from './training-callback';
export { frameRecord, readRecords, maskedCrc32c } from './records';
