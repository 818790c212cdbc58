export { createServer, inferenceRoutes } from './server';
export type { ServeOptions, InferenceServer, InferenceRoutesOptions } from './server';
export { ServedModel } from './served-model';
export type { BatchingOptions, ServedModelOptions, InferenceResult } from './served-model';
export { ServerMetrics } from './metrics';
export { HttpError } from './http-error';
export { startServerThread, SERVER_YOUNG_GENERATION_MB } from './server-thread';
export type { ServerThread } from './server-thread';
